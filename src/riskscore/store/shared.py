"""The ``shared`` flag of identifier rows: another account has used the same identifier.

Invariant, kept by every writer of ``identifiers`` in the transaction that writes the rows:
when two or more accounts have rows with one (kind, hash), all of those rows are flagged.
So an unflagged row is an identifier no other account has ever used: it matches nobody at
any as-of time, and the online duplicate counts and cluster walks skip it without looking
it up (:mod:`riskscore.store.queries`). The flag is not a point-in-time fact and no feature
reads it as one; it never goes back to false (after an account is deleted, a hash left with
one user stays flagged, which costs a lookup and changes no answer).

Writers serialise per identifier: SQLite has one writer at a time; on PostgreSQL
:func:`mark_shared` takes a transaction-scoped advisory lock per identifier, so two new
accounts sharing a hash in concurrent transactions cannot both miss each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text

HashPair = tuple[str, str]

_OTHER = ("SELECT o.account_id FROM identifiers o WHERE o.kind = :kind "
          "AND o.value_hash = :value_hash AND o.account_id <> :account_id")
# The writer's own row, when another account uses the identifier.
_MARK_OWN = ("UPDATE identifiers SET shared = TRUE WHERE account_id = :account_id "
             "AND kind = :kind AND value_hash = :value_hash AND NOT shared "
             f"AND EXISTS ({_OTHER})")
# The one other account's row, if it was alone with the identifier until now (when two or
# more others use it, the invariant has flagged them all already).
_MARK_OTHER = ("UPDATE identifiers SET shared = TRUE WHERE kind = :kind "
               "AND value_hash = :value_hash AND NOT shared "
               f"AND account_id = ({_OTHER} LIMIT 1)")
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(:kind || ':' || :value_hash, 0))"
MARK_ALL = (
    "UPDATE identifiers SET shared = TRUE WHERE NOT shared AND (kind, value_hash) IN ("
    "SELECT kind, value_hash FROM identifiers GROUP BY kind, value_hash HAVING count(*) > 1)"
)
"""Flags every row the invariant asks for, over the whole table (loader, migration)."""


def mark_shared(conn: Connection, account_id: str, pairs: Iterable[HashPair]) -> None:
    """Keep the invariant after writing ``account_id``'s rows for ``pairs`` (kind, hash)."""
    params = [{"account_id": account_id, "kind": kind, "value_hash": value_hash}
              for kind, value_hash in sorted(set(pairs))]  # sorted: locks in one order
    if not params:
        return
    if conn.dialect.name == "sqlite":  # the DBAPI takes :name parameters as they are
        driver: Any = conn.connection.driver_connection
        driver.executemany(_MARK_OWN, params)
        driver.executemany(_MARK_OTHER, params)
        return
    if conn.dialect.name == "postgresql":
        for row in params:
            conn.execute(text(_LOCK), row)
    conn.execute(text(_MARK_OWN), params)
    conn.execute(text(_MARK_OTHER), params)


def mark_all_shared(conn: Connection) -> int:
    """Flag every row of an identifier used by two or more accounts; returns rows changed."""
    return int(conn.execute(text(MARK_ALL)).rowcount)
