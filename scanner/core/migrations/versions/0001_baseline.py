"""Baseline: every table of the current models that the database lacks.

Revision ID: 0001
Revises:
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from scanner.core import tables  # noqa: F401  (every module that declares tables)
    from scanner.core.store import Base

    Base.metadata.create_all(op.get_bind(), checkfirst=True)
