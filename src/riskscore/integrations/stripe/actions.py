"""Stripe actions out: a decision becomes Stripe calls, through an outbox in the store.

Mapping (see ``docs/stripe.md``):

- ``delay_payouts`` -> update the account's ``settings.payouts.schedule.delay_days``;
- ``pause_payouts`` -> ``settings.payouts.schedule.interval = manual`` (payouts held until
  released);
- ``reject`` -> reject the account with reason ``fraud`` (permanent);
- ``manual_review`` -> no API call: recorded with status ``operator`` for an analyst;
- ``approve`` -> if riskscore itself held the account's payouts earlier (a delay or pause
  not yet undone, and no rejection since), restore the schedule the account had before
  the first such hold; otherwise nothing (recorded as ``skipped``).

Every call is written to ``stripe_actions`` first, with an idempotency key derived from the
decision id and the call, then sent. Live only when an API key is set *and*
``stripe_live_actions`` is on; otherwise the rows stay ``dry_run`` (what would have been
sent). A call failing transiently after its retries stays ``pending`` and
:meth:`StripeActions.retry_pending` (``riskscore stripe retry-actions``) sends it later; a
call Stripe refuses (4xx) becomes ``failed`` with the error, for an operator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from riskscore.integrations.stripe.client import call_with_retries, is_transient, stripe_client
from riskscore.settings import Settings, get_settings
from riskscore.store.errors import InvalidData
from riskscore.store.models import StripeAccount, StripeAction, table_of

log = logging.getLogger(__name__)

ACTIONS: tuple[str, ...] = ("approve", "delay_payouts", "manual_review", "pause_payouts",
                            "reject")
HOLDS: frozenset[str] = frozenset({"delay_payouts", "pause_payouts"})
MAX_DELAY_DAYS = 365
_OUTBOX, _STATUS = table_of(StripeAction), table_of(StripeAccount)
_DONE = ("sent", "dry_run")


@dataclass(frozen=True)
class ActionRequest:
    """A decision to act on: what the scorer (or an analyst) decided for an account."""

    decision_id: str
    account_id: str
    action: str
    delay_days: int | None = None

    def __post_init__(self) -> None:
        for name in ("decision_id", "account_id"):
            if not getattr(self, name):
                raise InvalidData(f"{name} is required")
        if self.action not in ACTIONS:
            raise InvalidData(f"action {self.action!r} is not one of {', '.join(ACTIONS)}")
        if self.action == "delay_payouts" and not (
            isinstance(self.delay_days, int) and 1 <= self.delay_days <= MAX_DELAY_DAYS
        ):
            raise InvalidData(f"delay_days must be an integer from 1 to {MAX_DELAY_DAYS} for "
                              f"delay_payouts (got {self.delay_days!r})")


@dataclass(frozen=True)
class ActionRecord:
    """One outbox row, as stored."""

    idempotency_key: str
    decision_id: str
    account_id: str
    action: str
    call: str
    params: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None


def idempotency_key(decision_id: str, call: str) -> str:
    """The Stripe ``Idempotency-Key`` of one call of one decision (stable across retries)."""
    return f"riskscore:{decision_id}:{call}"


def _schedule(**fields: Any) -> dict[str, Any]:
    return {"settings": {"payouts": {"schedule": fields}}}


class StripeActions:
    """Turns decisions into Stripe calls through the ``stripe_actions`` outbox."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        client: stripe.StripeClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._engine = engine
        self._settings = settings or get_settings()
        self.live = bool(self._settings.stripe_live_actions and self._settings.stripe_api_key)
        self._client = client if client is not None or not self.live else stripe_client(
            self._settings)
        self._sleep = sleep

    def submit(self, request: ActionRequest) -> list[ActionRecord]:
        """Record the calls ``request`` needs and, when live, send them. Submitting the same
        decision again records nothing new and sends only what is still pending."""
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            rows = [
                {"idempotency_key": idempotency_key(request.decision_id, call),
                 "decision_id": request.decision_id, "account_id": request.account_id,
                 "action": request.action, "call": call, "params": params, "status": status,
                 "attempts": 0, "last_error": None, "created_at": now, "updated_at": now}
                for call, params, status in self._plan(conn, request)
            ]
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(dialect.insert(_OUTBOX).on_conflict_do_nothing(), rows)
        for record in self._records(decision_id=request.decision_id):
            if record.status == "pending":
                self._send(record)
        return self._records(decision_id=request.decision_id)

    def retry_pending(self, limit: int = 100) -> list[ActionRecord]:
        """Send up to ``limit`` pending calls, oldest first (nothing when not live)."""
        if not self.live:
            return []
        pending = self._records(status="pending", limit=limit)
        for record in pending:
            self._send(record)
        keys = {r.idempotency_key for r in pending}
        return [r for r in self._records() if r.idempotency_key in keys]

    def records(self, account_id: str | None = None) -> list[ActionRecord]:
        """Outbox rows (of one account), oldest first."""
        return self._records(account_id=account_id)

    def _plan(self, conn: Connection, request: ActionRequest) -> list[tuple[str, dict, str]]:
        """``(call, params, status)`` of each call the decision needs."""
        send = "pending" if self.live else "dry_run"
        action = request.action
        if action == "manual_review":
            return [("operator_review", {"reason": "manual_review"}, "operator")]
        if action == "reject":
            return [("reject_account", {"request": {"reason": "fraud"}}, send)]
        if action in HOLDS:
            schedule = _schedule(delay_days=request.delay_days) if action == "delay_payouts" \
                else _schedule(interval="manual")
            return [("update_payout_schedule",
                     {"request": schedule, "previous_schedule": self._current(conn, request)},
                     send)]
        restore = self._schedule_to_restore(conn, request.account_id)
        if restore is None:
            return [("none", {}, "skipped")]
        return [("restore_payout_schedule", {"request": _schedule(**restore)}, send)]

    def _current(self, conn: Connection, request: ActionRequest) -> dict[str, Any] | None:
        """The account's payout schedule before this hold: what an earlier riskscore hold
        recorded, else what Stripe last reported (``account.updated``), else unknown."""
        earlier = self._open_hold(conn, request.account_id)
        if earlier is not None:
            return earlier
        row = conn.execute(select(_STATUS.c.payout_interval, _STATUS.c.payout_delay_days)
                           .where(_STATUS.c.account_id == request.account_id)).first()
        if row is None or row.payout_interval is None:
            return None
        fields = {"interval": row.payout_interval}
        if row.payout_delay_days is not None and row.payout_interval != "manual":
            fields["delay_days"] = row.payout_delay_days
        return fields

    def _open_hold(self, conn: Connection, account_id: str) -> dict[str, Any] | None:
        """The schedule from before riskscore's holds, if its payouts are held by riskscore
        now (latest schedule call is a hold; not rejected since)."""
        rows = conn.execute(
            select(_OUTBOX.c.call, _OUTBOX.c.params, _OUTBOX.c.status)
            .where(_OUTBOX.c.account_id == account_id,
                   _OUTBOX.c.status.in_(("pending", *_DONE)),
                   _OUTBOX.c.call.in_(("update_payout_schedule", "restore_payout_schedule",
                                       "reject_account")))
            .order_by(_OUTBOX.c.created_at, _OUTBOX.c.idempotency_key)
        ).all()
        previous: dict[str, Any] | None = None
        for call, params, _status in rows:
            if call == "update_payout_schedule":
                if previous is None:
                    previous = params.get("previous_schedule") or {"__unknown__": True}
            else:
                previous = None
        return previous

    def _schedule_to_restore(self, conn: Connection, account_id: str) -> dict[str, Any] | None:
        previous = self._open_hold(conn, account_id)
        if previous is None or "__unknown__" in previous:
            return None  # no hold of ours, or the schedule before it was never known
        return previous

    def _send(self, record: ActionRecord) -> None:
        if record.status != "pending" or not self.live:
            return
        assert self._client is not None
        request: Mapping[str, Any] = record.params.get("request", {})
        options: stripe.RequestOptions = {"idempotency_key": record.idempotency_key}
        accounts = self._client.v1.accounts

        def call() -> Any:
            if record.call == "reject_account":
                return accounts.reject(record.account_id, dict(request), options)
            return accounts.update(record.account_id, dict(request), options)

        status, error, attempts = "sent", None, 1
        try:
            _, attempts = call_with_retries(call, self._settings, self._sleep)
        except stripe.StripeError as exc:
            attempts = getattr(exc, "riskscore_attempts", 1)
            transient = is_transient(exc)
            status = "pending" if transient else "failed"
            error = f"HTTP {exc.http_status}: {exc.user_message or exc}"[:500]
            log.warning("Stripe %s for %s %s: %s", record.call, record.account_id,
                        "will be retried" if transient else "refused", error)
        with self._engine.begin() as conn:
            conn.execute(update(_OUTBOX).where(
                _OUTBOX.c.idempotency_key == record.idempotency_key).values(
                status=status, attempts=_OUTBOX.c.attempts + attempts, last_error=error,
                updated_at=datetime.now(UTC)))

    def _records(self, *, decision_id: str | None = None, account_id: str | None = None,
                 status: str | None = None, limit: int | None = None) -> list[ActionRecord]:
        query = select(*(_OUTBOX.c[f] for f in ActionRecord.__dataclass_fields__)).order_by(
            _OUTBOX.c.created_at, _OUTBOX.c.idempotency_key)
        for column, value in (("decision_id", decision_id), ("account_id", account_id),
                              ("status", status)):
            if value is not None:
                query = query.where(_OUTBOX.c[column] == value)
        with self._engine.connect() as conn:
            return [ActionRecord(*row) for row in conn.execute(query.limit(limit))]
