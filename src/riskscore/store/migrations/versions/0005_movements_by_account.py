"""Movements keyed by (account, time, id) and, on SQLite, clustered by that key
(``WITHOUT ROWID``), so one account's movements sit together however they arrived;
``movement_id`` stays unique. The (account_id, ts) index is the key now.

On SQLite the table is rebuilt (rows copied in key order, so the new table is written
sequentially); on PostgreSQL only its constraints change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskscore.store.types import UtcTimestamp

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("movement_id", "account_id", "ts", "type", "amount", "status", "instant",
            "international", "counterparty", "merchant_category", "related_id",
            "capture_kind", "return_code", "stripe_version")
_KEY = ("account_id", "ts", "movement_id")


def _sqlite_rebuild(key: Sequence[str], *, clustered: bool) -> None:
    """Copy movements into a new table with primary key ``key`` (and ``movement_id`` unique
    when it is not the key), in key order, then swap it in."""
    constraints: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"],
                                name=op.f("fk_movements_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_movements")),
    ]
    if clustered:
        constraints.append(sa.UniqueConstraint("movement_id",
                                               name=op.f("uq_movements_movement_id")))
    op.create_table(
        "movements_rebuilt",
        sa.Column("movement_id", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("instant", sa.Boolean(), nullable=True),
        sa.Column("international", sa.Boolean(), nullable=True),
        sa.Column("counterparty", sa.String(), nullable=True),
        sa.Column("merchant_category", sa.String(), nullable=True),
        sa.Column("related_id", sa.String(), nullable=True),
        sa.Column("capture_kind", sa.String(), nullable=True),
        sa.Column("return_code", sa.String(), nullable=True),
        sa.Column("stripe_version", sa.String(length=96), nullable=True),
        *constraints,
        sqlite_with_rowid=not clustered,
    )
    columns = ", ".join(_COLUMNS)
    op.execute(f"INSERT INTO movements_rebuilt ({columns}) SELECT {columns} FROM movements "
               f"ORDER BY {', '.join(key)}")
    op.drop_table("movements")
    op.rename_table("movements_rebuilt", "movements")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(_KEY, clustered=True)
        return
    op.create_unique_constraint(op.f("uq_movements_movement_id"), "movements", ["movement_id"])
    op.drop_constraint(op.f("pk_movements"), "movements", type_="primary")
    op.create_primary_key(op.f("pk_movements"), "movements", list(_KEY))
    op.drop_index(op.f("ix_movements_account_id_ts"), table_name="movements")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(("movement_id",), clustered=False)
    else:
        op.drop_constraint(op.f("pk_movements"), "movements", type_="primary")
        op.create_primary_key(op.f("pk_movements"), "movements", ["movement_id"])
        op.drop_constraint(op.f("uq_movements_movement_id"), "movements", type_="unique")
    op.create_index(op.f("ix_movements_account_id_ts"), "movements", ["account_id", "ts"])
