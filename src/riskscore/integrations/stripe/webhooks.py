"""Stripe webhooks in: verify the signature, record the event exactly once, map it into the
store, then tell the scorer which account's risk moved.

:func:`process_webhook` is the whole pipeline for one delivery and returns the HTTP answer
(status and JSON body), so any web framework can serve it
(:mod:`riskscore.serving.webhooks` does, with Starlette).

Exactly-once effect: the event id goes into ``processed_events`` in the same transaction
as its effect, so a redelivery finds it and changes nothing; effects are idempotent and
order-free (:mod:`.writer`). The risk callback runs after the commit, outside the
transaction: if it fails, the event stays stored (the failure is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import stripe
from sqlalchemy import Engine, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from riskscore.integrations.stripe.events import EventError, map_event, parse_event
from riskscore.integrations.stripe.writer import apply_effect
from riskscore.settings import Settings, get_settings
from riskscore.store.engine import WriteLock
from riskscore.store.hashing import IdentifierHasher
from riskscore.store.models import ProcessedEvent, table_of

log = logging.getLogger(__name__)

RiskCallback = Callable[[str, datetime], None]
"""``on_risk_event(account_id, as_of)``: the account's stored history changed at ``as_of``."""

_PROCESSED = table_of(ProcessedEvent)
_SET_OUTCOME = _PROCESSED.update().where(
    _PROCESSED.c.event_id == bindparam("b_event_id")).values(outcome=bindparam("outcome"))


@cache
def _claim(dialect_name: str) -> Any:
    """Insert the event id unless present, returning it: ``None`` means a redelivery."""
    dialect: Any = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(_PROCESSED).on_conflict_do_nothing().returning(_PROCESSED.c.event_id)


class ConfigurationError(RuntimeError):
    """The webhook endpoint cannot run as configured (no signing secret)."""


@dataclass(frozen=True)
class WebhookResult:
    """The answer to one delivery: HTTP status and JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)


class WebhookProcessor:
    """Processes webhook deliveries into the store at ``engine``.

    Raises :class:`ConfigurationError` at construction when ``settings`` have no
    ``stripe_webhook_secret``: an endpoint that cannot verify signatures must not start.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        on_risk_event: RiskCallback | None = None,
        hasher: IdentifierHasher | None = None,
    ) -> None:
        settings = settings or get_settings()
        if settings.stripe_webhook_secret is None:
            raise ConfigurationError(
                "RISKSCORE_STRIPE_WEBHOOK_SECRET is not set: the Stripe webhook endpoint "
                "cannot verify signatures"
            )
        self._secret = settings.stripe_webhook_secret.get_secret_value()
        self._tolerance = settings.stripe_webhook_tolerance_seconds
        self._engine = engine
        self._on_risk_event = on_risk_event
        self._hasher = hasher or IdentifierHasher.from_settings(settings)
        self.max_body_bytes = settings.stripe_webhook_max_body_bytes
        # SQLite has one writer at a time, and writers waiting on its lock sleep in steps of
        # milliseconds: queueing the writers on a mutex and a file lock is much faster.
        self._write_lock = WriteLock(engine)

    def process(self, payload: bytes, signature: str | None) -> WebhookResult:
        """Verify, parse, map and store one delivery; then call the risk callback."""
        if len(payload) > self.max_body_bytes:
            return _error(413, f"request body exceeds {self.max_body_bytes} bytes")
        if not signature:
            return _error(400, "Stripe-Signature header is missing")
        try:
            stripe.WebhookSignature.verify_header(payload, signature, self._secret,
                                                  self._tolerance)
        except stripe.SignatureVerificationError as exc:
            return _error(400, f"Stripe-Signature header is not valid: {exc.user_message}")
        try:
            event = parse_event(payload)
            effect = map_event(event, self._hasher)
        except EventError as exc:
            return _error(400, str(exc))
        now = datetime.now(UTC)
        applies = effect is not None and not effect.is_empty()
        outcome, touched = "applied" if applies else "ignored", []
        with self._write_lock(), self._engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin_immediate=True)
            with conn.begin():
                claimed = conn.execute(_claim(conn.dialect.name), {
                    "event_id": event.id, "received_at": now, "type": event.type,
                    "outcome": outcome,
                    "account_id": effect.account_id if effect else event.account,
                }).first()
                if claimed is None:  # delivered before: nothing more to do
                    return WebhookResult(200, {"id": event.id, "outcome": "duplicate"})
                if applies:
                    assert effect is not None
                    outcome, touched = apply_effect(conn, event.id, effect)
                    if outcome != "applied":
                        conn.execute(_SET_OUTCOME, {"b_event_id": event.id, "outcome": outcome})
        self._notify(touched, now)
        return WebhookResult(200, {"id": event.id, "outcome": outcome})

    def _notify(self, accounts: list[str], as_of: datetime) -> None:
        if self._on_risk_event is None:
            return
        for account_id in accounts:
            try:
                self._on_risk_event(account_id, as_of)
            except Exception:  # the event is stored; a scorer failure must not undo that
                log.exception("on_risk_event failed for account %s (event stored)", account_id)


def _error(status: int, message: str) -> WebhookResult:
    return WebhookResult(status, {"error": message})


def process_webhook(
    payload: bytes,
    signature: str | None,
    engine: Engine,
    settings: Settings | None = None,
    on_risk_event: RiskCallback | None = None,
) -> WebhookResult:
    """One-shot form of :meth:`WebhookProcessor.process` (builds the processor each call)."""
    return WebhookProcessor(engine, settings, on_risk_event).process(payload, signature)
