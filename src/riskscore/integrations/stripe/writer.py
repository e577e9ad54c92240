"""Write an event's :class:`~.events.Effect` into the store, so that order and repetition do
not matter: the same set of events gives the same rows whatever order they arrive in.

- movements are upserted by Stripe object id, keeping the row of the newest event
  (``stripe_version``, see :func:`~.events.version_key`); account state likewise;
- Stripe-reported changes are upserted by ``source_id``, keeping the earliest time;
- identifiers keep the earliest ``seen_at`` (as the bulk loader does) and their ``shared``
  flag (:mod:`riskscore.store.shared`);
- an event whose account is not in the store yet is parked (its effect, already hashed, in
  ``stripe_parked_events``) and applied as soon as the account is there.

Everything runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from riskscore.integrations.stripe.events import Effect
from riskscore.store.models import (
    Account,
    Change,
    Identifier,
    Movement,
    ParkedEvent,
    ProcessedEvent,
    StripeAccount,
    table_of,
)
from riskscore.store.shared import mark_shared

_ACCOUNTS, _MOVEMENTS, _CHANGES = table_of(Account), table_of(Movement), table_of(Change)
_IDENTIFIERS, _STATUS = table_of(Identifier), table_of(StripeAccount)
_PARKED, _PROCESSED = table_of(ParkedEvent), table_of(ProcessedEvent)


@dataclass(frozen=True)
class _Statements:
    """The writer's statements for one dialect, built once (building an upsert costs more
    than SQLite takes to run it)."""

    account: Any
    park: Any
    movements: Any
    changes: Any
    identifiers: Any
    status: Any
    account_refresh: Any


@cache
def _statements(dialect_name: str) -> _Statements:
    dialect: Any = postgresql if dialect_name == "postgresql" else sqlite
    mv = dialect.insert(_MOVEMENTS)
    ch = dialect.insert(_CHANGES)
    ids = dialect.insert(_IDENTIFIERS)
    st = dialect.insert(_STATUS)
    account = dialect.insert(_ACCOUNTS)
    return _Statements(
        account=account.on_conflict_do_update(
            index_elements=[_ACCOUNTS.c.account_id],
            set_={"created_at": account.excluded.created_at},
            where=account.excluded.created_at < _ACCOUNTS.c.created_at,
        ),
        park=dialect.insert(_PARKED).on_conflict_do_nothing(),
        movements=mv.on_conflict_do_update(
            index_elements=[_MOVEMENTS.c.movement_id],
            set_={c.name: mv.excluded[c.name] for c in _MOVEMENTS.columns
                  if c.name != "movement_id"},
            where=(_MOVEMENTS.c.stripe_version.is_(None)
                   | (mv.excluded.stripe_version > _MOVEMENTS.c.stripe_version)),
        ),
        changes=ch.on_conflict_do_update(
            index_elements=[_CHANGES.c.source_id],
            set_={"ts": ch.excluded.ts, "new_value_hash": ch.excluded.new_value_hash},
            where=ch.excluded.ts < _CHANGES.c.ts,
        ),
        identifiers=ids.on_conflict_do_update(
            index_elements=[_IDENTIFIERS.c.account_id, _IDENTIFIERS.c.kind,
                            _IDENTIFIERS.c.value_hash],
            set_={"seen_at": ids.excluded.seen_at},
            where=ids.excluded.seen_at < _IDENTIFIERS.c.seen_at,
        ),
        status=st.on_conflict_do_update(
            index_elements=[_STATUS.c.account_id],
            set_={c.name: st.excluded[c.name] for c in _STATUS.columns
                  if c.name != "account_id"},
            where=st.excluded.stripe_version > _STATUS.c.stripe_version,
        ),
        # The account's attributes follow its newest state at Stripe (created_at: earliest).
        account_refresh=update(_ACCOUNTS).where(
            _ACCOUNTS.c.account_id == bindparam("b_account_id"),
            select(_STATUS.c.stripe_version).where(
                _STATUS.c.account_id == bindparam("b_account_id")
            ).scalar_subquery() == bindparam("b_version"),
        ).values(country=bindparam("b_country"), business_type=bindparam("b_business_type"),
                 mcc=func.coalesce(func.nullif(bindparam("b_mcc"), ""), _ACCOUNTS.c.mcc)),
    )


_COUNTRY = select(_ACCOUNTS.c.country).where(_ACCOUNTS.c.account_id == bindparam("account_id"))
_PARKED_OF = (select(_PARKED.c.event_id, _PARKED.c.effect)
              .where(_PARKED.c.account_id == bindparam("account_id"))
              .order_by(_PARKED.c.event_id))


def apply_effect(conn: Connection, event_id: str, effect: Effect) -> tuple[str, list[str]]:
    """Write ``effect``; returns the outcome (``applied`` or ``parked``) and the accounts
    whose stored history changed (this one, with any parked events it released)."""
    sql = _statements(conn.dialect.name)
    if effect.account is not None:
        conn.execute(sql.account, [{**effect.account, "onboarding_features": {}}])
    country = conn.execute(_COUNTRY, {"account_id": effect.account_id}).scalar()
    if country is None:
        conn.execute(sql.park, [{
            "event_id": event_id, "account_id": effect.account_id,
            "created": _created(effect), "effect": effect.to_json(),
        }])
        return "parked", []
    _write(conn, sql, effect, country)
    _release_parked(conn, sql, effect.account_id, country)
    return "applied", [effect.account_id]


def _created(effect: Effect) -> datetime:
    return datetime.fromtimestamp(int(effect.version.split(".", 1)[0]), UTC)


def _release_parked(conn: Connection, sql: _Statements, account_id: str, country: str) -> None:
    """Apply the parked events of an account now in the store, then forget them."""
    parked = conn.execute(_PARKED_OF, {"account_id": account_id}).all()
    if not parked:
        return
    for _event_id, data in parked:
        _write(conn, sql, Effect.from_json(data), country)
    ids = [event_id for event_id, _ in parked]
    conn.execute(delete(_PARKED).where(_PARKED.c.event_id.in_(ids)))
    conn.execute(update(_PROCESSED).where(_PROCESSED.c.event_id.in_(ids)).values(
        outcome="applied"))


def _write(conn: Connection, sql: _Statements, effect: Effect, country: str) -> None:
    if effect.movements:
        conn.execute(sql.movements, _resolve_international(effect.movements, country))
    if effect.changes:
        conn.execute(sql.changes, list(effect.changes))
    if effect.identifiers:
        rows = _earliest(effect.account_id, effect.identifiers)
        conn.execute(sql.identifiers, rows)
        mark_shared(conn, effect.account_id, [(r["kind"], r["value_hash"]) for r in rows])
    if effect.status is not None:
        conn.execute(sql.status, [effect.status])
    if effect.account is not None:
        conn.execute(sql.account_refresh, {
            "b_account_id": effect.account_id, "b_version": effect.version,
            **{f"b_{k}": effect.account[k] for k in ("country", "business_type", "mcc")}})


def _resolve_international(rows: Sequence[dict[str, Any]], country: str) -> list[dict[str, Any]]:
    """Rows without ``foreign_country``; ``international`` from it against ``country``."""
    values = []
    for row in rows:
        row = dict(row)
        foreign = row.pop("foreign_country", None)
        if row.get("international") is None and isinstance(foreign, str) and foreign:
            row["international"] = foreign.upper() != country.upper()
        values.append(row)
    return values


def _earliest(account_id: str, identifiers: Sequence[tuple[str, str, Any]]) -> list[dict]:
    earliest: dict[tuple[str, str], Any] = {}
    for kind, value_hash, seen in identifiers:
        key = (kind, value_hash)
        earliest[key] = min(seen, earliest.get(key, seen))
    return [{"account_id": account_id, "kind": k, "value_hash": h, "seen_at": seen}
            for (k, h), seen in sorted(earliest.items())]
