"""Declarative models of the entity store: what the scoring service reads and writes.

No column holds raw PII: email, phone, address, tax id, bank account, device id and IP
appear only as keyed HMAC hashes (see :mod:`riskscore.store.hashing`), and names are not
stored at all. Every time column is a tz-aware UTC :class:`~riskscore.store.types.UtcTimestamp`.
Indexes are chosen for the online queries in :mod:`riskscore.store.queries`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from riskscore.identifiers import IDENTIFIER_KINDS
from riskscore.store.types import UtcTimestamp

STORE_KINDS: tuple[str, ...] = (*IDENTIFIER_KINDS, "ip24")
"""Identifier kinds the store keeps: the contract's kinds plus the IP's /24 prefix."""

HASH = String(32)
_AutoId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcTimestamp(), dict[str, Any]: JSON()}


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, for Core statements (bulk writes, prebuilt queries)."""
    return cast(Table, model.__table__)


def _account_fk() -> Any:
    return ForeignKey("accounts.account_id", ondelete="CASCADE")


class Account(Base):
    """A connected account: non-PII onboarding attributes and precomputed static features."""

    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String, primary_key=True)
    created_at: Mapped[datetime]
    country: Mapped[str] = mapped_column(String(2))
    business_type: Mapped[str] = mapped_column(String)
    mcc: Mapped[str] = mapped_column(String(4))
    onboarding_features: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Identifier(Base):
    """One hashed identifier an account used, with when it first used it.

    One row per (account, kind, hash); shared hashes across accounts are the duplicate and
    ring signals. The (kind, value_hash, seen_at, account_id) index answers "which other
    accounts used this value before t" from the index alone. On SQLite the table is
    clustered by its primary key (``WITHOUT ROWID``), so an account's rows are adjacent.

    ``shared``: another account has a row with the same kind and hash (at any time). Every
    writer keeps it (:mod:`riskscore.store.shared`); it only tells the online queries which
    rows cannot match anyone, and never stands for a point-in-time count.
    """

    __tablename__ = "identifiers"
    __table_args__ = (
        Index(None, "kind", "value_hash", "seen_at", "account_id"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in STORE_KINDS) + ")", name="kind"
        ),
        {"sqlite_with_rowid": False},
    )

    account_id: Mapped[str] = mapped_column(_account_fk(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    seen_at: Mapped[datetime]
    shared: Mapped[bool] = mapped_column(Boolean, server_default=false())


class Signup(Base):
    """How the application was submitted, hashed: the input of signup-velocity features."""

    __tablename__ = "signups"
    __table_args__ = (
        Index(None, "device_hash", "completed_at"),
        Index(None, "ip_hash", "completed_at"),
        Index(None, "ip24_hash", "completed_at"),
        Index(None, "completed_at"),
    )

    account_id: Mapped[str] = mapped_column(_account_fk(), primary_key=True)
    completed_at: Mapped[datetime]
    device_hash: Mapped[str | None] = mapped_column(HASH)
    ip_hash: Mapped[str | None] = mapped_column(HASH)
    ip24_hash: Mapped[str | None] = mapped_column(HASH)
    ip_type: Mapped[str | None] = mapped_column(String)
    ip_country: Mapped[str | None] = mapped_column(String(2))


class SignupHour(Base):
    """Signups completed per UTC hour: a rollup of ``signups`` kept by every writer, so
    platform-wide counts over 28 days read ~700 rows instead of counting ~100k signups."""

    __tablename__ = "signup_hours"

    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    signups: Mapped[int] = mapped_column(Integer)


class KnownFraud(Base):
    """An account confirmed fraudulent, from ``known_at`` on (never before)."""

    __tablename__ = "known_fraud"

    account_id: Mapped[str] = mapped_column(_account_fk(), primary_key=True)
    known_at: Mapped[datetime]
    typology: Mapped[str | None] = mapped_column(String)


class Movement(Base):
    """A movement of money, as in the contract's ``movements`` table.

    Keyed by (account, time, id) and, on SQLite, clustered by that key (``WITHOUT ROWID``):
    an account's movements are adjacent whatever order they arrived in (webhooks deliver
    every account's events interleaved), so reading one account's window touches a few
    pages, not one per movement. ``movement_id`` stays unique, the key of upserts.
    """

    __tablename__ = "movements"
    __table_args__ = (
        PrimaryKeyConstraint("account_id", "ts", "movement_id"),
        UniqueConstraint("movement_id"),
        {"sqlite_with_rowid": False},
    )

    movement_id: Mapped[str] = mapped_column(String)
    account_id: Mapped[str] = mapped_column(_account_fk())
    ts: Mapped[datetime]
    type: Mapped[str] = mapped_column(String)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String)
    instant: Mapped[bool | None] = mapped_column(Boolean)
    international: Mapped[bool | None] = mapped_column(Boolean)
    counterparty: Mapped[str | None] = mapped_column(String)
    merchant_category: Mapped[str | None] = mapped_column(String)
    related_id: Mapped[str | None] = mapped_column(String)
    capture_kind: Mapped[str | None] = mapped_column(String)
    return_code: Mapped[str | None] = mapped_column(String)
    stripe_version: Mapped[str | None] = mapped_column(String(96))
    """For rows written from Stripe events: ordering key of the event that wrote the row
    (see :func:`riskscore.integrations.stripe.events.version_key`); a redelivered or older
    event never overwrites a newer one. Null for rows loaded from Parquet."""


class Login(Base):
    """A login, as in the contract's ``logins`` table, with device and IP hashed."""

    __tablename__ = "logins"
    __table_args__ = (Index(None, "account_id", "ts"),)

    id: Mapped[int] = mapped_column(_AutoId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(_account_fk())
    ts: Mapped[datetime]
    device_hash: Mapped[str] = mapped_column(HASH)
    ip_hash: Mapped[str] = mapped_column(HASH)
    ip_type: Mapped[str | None] = mapped_column(String)
    ip_country: Mapped[str | None] = mapped_column(String(2))
    success: Mapped[bool] = mapped_column(Boolean)


class Change(Base):
    """A sensitive change, as in the contract's ``changes`` table, with PII hashed.

    ``new_value_hash`` is hashed with the identifier kind of the change (``bank_account``,
    ``email``, ``phone``), so it matches the ``identifiers`` rows it creates. Changes reported
    by Stripe webhooks have no device or IP (null) and a ``source_id`` (the Stripe object or
    event they came from) that makes a redelivery update the same row.
    """

    __tablename__ = "changes"
    __table_args__ = (Index(None, "account_id", "ts"),)

    id: Mapped[int] = mapped_column(_AutoId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(_account_fk())
    ts: Mapped[datetime]
    change_type: Mapped[str] = mapped_column(String)
    device_hash: Mapped[str | None] = mapped_column(HASH)
    ip_hash: Mapped[str | None] = mapped_column(HASH)
    new_value_hash: Mapped[str | None] = mapped_column(HASH)
    source_id: Mapped[str | None] = mapped_column(String, unique=True)


class Decision(Base):
    """Audit log: every decision the scorer made, with what it was based on and why.

    Unlike the other tables, deleting an account does not cascade here: the audit log
    outlives the account (delete its decisions explicitly if that is what is meant).
    """

    __tablename__ = "decisions"
    __table_args__ = (Index(None, "account_id", "created_at"),)

    decision_id: Mapped[str] = mapped_column(String, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id"))
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String)
    inputs_hash: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)  # null: the model could not score
    action: Mapped[str] = mapped_column(String)
    delay_days: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    model_version: Mapped[str] = mapped_column(String)
    policy_version: Mapped[str] = mapped_column(String)
    shadow: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # challenger, never acted on


class ProcessedEvent(Base):
    """A webhook event already handled, so a redelivery is recognised and skipped.

    ``outcome``: ``applied`` (its effect is in the store), ``parked`` (its account is not in
    the store yet; the effect waits in ``stripe_parked_events``) or ``ignored`` (a type
    that carries no risk the store keeps).
    """

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    received_at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String(16), server_default="applied")
    account_id: Mapped[str | None] = mapped_column(String)


class StripeAccount(Base):
    """The connected account's state at Stripe, from the newest ``account.updated`` seen:
    what it may do, what verification is outstanding, and its payout schedule."""

    __tablename__ = "stripe_accounts"

    account_id: Mapped[str] = mapped_column(_account_fk(), primary_key=True)
    stripe_version: Mapped[str] = mapped_column(String(96))
    updated_at: Mapped[datetime]
    charges_enabled: Mapped[bool | None] = mapped_column(Boolean)
    payouts_enabled: Mapped[bool | None] = mapped_column(Boolean)
    details_submitted: Mapped[bool | None] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String)
    currently_due: Mapped[int] = mapped_column(Integer)
    past_due: Mapped[int] = mapped_column(Integer)
    pending_verification: Mapped[int] = mapped_column(Integer)
    verification_status: Mapped[str | None] = mapped_column(String)
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payout_interval: Mapped[str | None] = mapped_column(String)
    payout_delay_days: Mapped[int | None] = mapped_column(Integer)


class ParkedEvent(Base):
    """The effect of a Stripe event whose account is not in the store yet (events arrive
    out of order): rows already mapped and hashed, applied when the account arrives."""

    __tablename__ = "stripe_parked_events"
    __table_args__ = (Index(None, "account_id"),)

    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    account_id: Mapped[str] = mapped_column(String)
    created: Mapped[datetime]
    effect: Mapped[dict[str, Any]]


class StripeAction(Base):
    """Outbox of Stripe calls a decision asks for, one row per call.

    ``status``: ``pending`` (to send, or to retry), ``sent`` (Stripe accepted it),
    ``dry_run`` (recorded, not sent: live actions off or no API key), ``operator`` (the API
    cannot do it; an operator must), ``skipped`` (nothing to do). ``idempotency_key`` is
    derived from the decision and the call, so a retry can never act twice.
    """

    __tablename__ = "stripe_actions"
    __table_args__ = (Index(None, "status", "updated_at"), Index(None, "account_id", "created_at"))

    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String)
    account_id: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String(32))
    call: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
