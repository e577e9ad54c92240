"""Initial schema: accounts, hashed identifiers, signups (and their hourly rollup), known
fraud, events, audit log, processed webhook events.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskscore.store.types import UtcTimestamp

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = sa.String(length=32)
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KINDS = ("email", "phone", "address", "tax_id", "bank_account", "device", "ip", "ip24")


def _account_fk(table: str, *, cascade: bool = True) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.account_id"], name=op.f(f"fk_{table}_account_id_accounts"),
        ondelete="CASCADE" if cascade else None,
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("business_type", sa.String(), nullable=False),
        sa.Column("mcc", sa.String(length=4), nullable=False),
        sa.Column("onboarding_features", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "identifiers",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value_hash", HASH, nullable=False),
        sa.Column("seen_at", UtcTimestamp(), nullable=False),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")", name=op.f("ck_identifiers_kind")
        ),
        _account_fk("identifiers"),
        sa.PrimaryKeyConstraint("account_id", "kind", "value_hash", name=op.f("pk_identifiers")),
        sqlite_with_rowid=False,
    )
    _index("identifiers", "kind", "value_hash", "seen_at", "account_id")
    op.create_table(
        "signups",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("completed_at", UtcTimestamp(), nullable=False),
        sa.Column("device_hash", HASH, nullable=True),
        sa.Column("ip_hash", HASH, nullable=True),
        sa.Column("ip24_hash", HASH, nullable=True),
        sa.Column("ip_type", sa.String(), nullable=True),
        sa.Column("ip_country", sa.String(length=2), nullable=True),
        _account_fk("signups"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_signups")),
    )
    _index("signups", "completed_at")
    _index("signups", "device_hash", "completed_at")
    _index("signups", "ip_hash", "completed_at")
    _index("signups", "ip24_hash", "completed_at")
    op.create_table(
        "signup_hours",
        sa.Column("hour_start", UtcTimestamp(), nullable=False),
        sa.Column("signups", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour_start", name=op.f("pk_signup_hours")),
    )
    op.create_table(
        "known_fraud",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("known_at", UtcTimestamp(), nullable=False),
        sa.Column("typology", sa.String(), nullable=True),
        _account_fk("known_fraud"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_known_fraud")),
    )
    op.create_table(
        "movements",
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
        _account_fk("movements"),
        sa.PrimaryKeyConstraint("movement_id", name=op.f("pk_movements")),
    )
    _index("movements", "account_id", "ts")
    op.create_table(
        "logins",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("device_hash", HASH, nullable=False),
        sa.Column("ip_hash", HASH, nullable=False),
        sa.Column("ip_type", sa.String(), nullable=True),
        sa.Column("ip_country", sa.String(length=2), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        _account_fk("logins"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logins")),
    )
    _index("logins", "account_id", "ts")
    op.create_table(
        "changes",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("ts", UtcTimestamp(), nullable=False),
        sa.Column("change_type", sa.String(), nullable=False),
        sa.Column("device_hash", HASH, nullable=False),
        sa.Column("ip_hash", HASH, nullable=False),
        sa.Column("new_value_hash", HASH, nullable=True),
        _account_fk("changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    _index("changes", "account_id", "ts")
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("inputs_hash", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("delay_days", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(), nullable=False),
        sa.Column("policy_version", sa.String(), nullable=False),
        _account_fk("decisions", cascade=False),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decisions")),
    )
    _index("decisions", "account_id", "created_at")
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("received_at", UtcTimestamp(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_processed_events")),
    )


def downgrade() -> None:
    for table in ("processed_events", "decisions", "changes", "logins", "movements",
                  "known_fraud", "signup_hours", "signups", "identifiers", "accounts"):
        op.drop_table(table)  # drops the table's indexes with it
