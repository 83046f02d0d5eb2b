"""API keys get their own rate limit (databases made before it lack the column).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("api_keys")}
    if "rate_per_minute" not in columns:
        op.add_column("api_keys", sa.Column("rate_per_minute", sa.Integer(), nullable=True))
