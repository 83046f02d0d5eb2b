"""The small core every layer shares: the data contract (models), settings and data home (config), the store
(SQLAlchemy; SQLite by default) with its file checks and table list, encryption at rest (crypto, at_rest), the
hash-chained audit log, the per-item time budget, input scrubbing (scrub) and safe CSV cells.
"""
