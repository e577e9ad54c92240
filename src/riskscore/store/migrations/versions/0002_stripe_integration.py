"""Stripe integration: event ordering keys on movements, Stripe-reported changes (no device
or IP, a source id), processed-event outcomes, account state at Stripe, parked events, and
the outbox of Stripe actions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from riskscore.store.types import UtcTimestamp

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HASH = sa.String(length=32)
VERSION = sa.String(length=96)


def upgrade() -> None:
    with op.batch_alter_table("movements") as batch:
        batch.add_column(sa.Column("stripe_version", VERSION, nullable=True))
    with op.batch_alter_table("changes") as batch:
        batch.alter_column("device_hash", existing_type=HASH, nullable=True)
        batch.alter_column("ip_hash", existing_type=HASH, nullable=True)
        batch.add_column(sa.Column("source_id", sa.String(), nullable=True))
        batch.create_unique_constraint(op.f("uq_changes_source_id"), ["source_id"])
    with op.batch_alter_table("processed_events") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=16), server_default="applied",
                                   nullable=False))
        batch.add_column(sa.Column("account_id", sa.String(), nullable=True))
    op.create_table(
        "stripe_accounts",
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("stripe_version", VERSION, nullable=False),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=True),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=True),
        sa.Column("details_submitted", sa.Boolean(), nullable=True),
        sa.Column("disabled_reason", sa.String(), nullable=True),
        sa.Column("currently_due", sa.Integer(), nullable=False),
        sa.Column("past_due", sa.Integer(), nullable=False),
        sa.Column("pending_verification", sa.Integer(), nullable=False),
        sa.Column("verification_status", sa.String(), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("payout_interval", sa.String(), nullable=True),
        sa.Column("payout_delay_days", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"],
                                name=op.f("fk_stripe_accounts_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_stripe_accounts")),
    )
    op.create_table(
        "stripe_parked_events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("created", UtcTimestamp(), nullable=False),
        sa.Column("effect", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_stripe_parked_events")),
    )
    op.create_index(op.f("ix_stripe_parked_events_account_id"), "stripe_parked_events",
                    ["account_id"])
    op.create_table(
        "stripe_actions",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("account_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("call", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_stripe_actions")),
    )
    op.create_index(op.f("ix_stripe_actions_status_updated_at"), "stripe_actions",
                    ["status", "updated_at"])
    op.create_index(op.f("ix_stripe_actions_account_id_created_at"), "stripe_actions",
                    ["account_id", "created_at"])


def downgrade() -> None:
    for table in ("stripe_actions", "stripe_parked_events", "stripe_accounts"):
        op.drop_table(table)
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_column("account_id")
        batch.drop_column("outcome")
    with op.batch_alter_table("changes") as batch:
        batch.drop_constraint(op.f("uq_changes_source_id"), type_="unique")
        batch.drop_column("source_id")
        batch.alter_column("ip_hash", existing_type=HASH, nullable=False)
        batch.alter_column("device_hash", existing_type=HASH, nullable=False)
    with op.batch_alter_table("movements") as batch:
        batch.drop_column("stripe_version")
