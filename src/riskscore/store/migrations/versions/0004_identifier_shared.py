"""Identifiers: a ``shared`` flag on rows whose identifier another account has used too,
so online duplicate counts and cluster walks skip the rows that match nobody
(:mod:`riskscore.store.shared`). Existing rows are flagged from the table itself.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The statement of riskscore.store.shared.MARK_ALL, kept here as it was at this revision.
_MARK_ALL = (
    "UPDATE identifiers SET shared = TRUE WHERE NOT shared AND (kind, value_hash) IN ("
    "SELECT kind, value_hash FROM identifiers GROUP BY kind, value_hash HAVING count(*) > 1)"
)


def upgrade() -> None:
    # A constant default: SQLite adds the column without rewriting the table, PostgreSQL
    # (11+) without rewriting it either.
    op.add_column("identifiers", sa.Column("shared", sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.execute(_MARK_ALL)


def downgrade() -> None:
    with op.batch_alter_table("identifiers") as batch:
        batch.drop_column("shared")
