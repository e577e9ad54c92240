"""The application table: onboarding features and hashed identifiers per account.

Parsing a million phone numbers takes minutes, and what an applicant submitted never
changes, so batch runs keep this table in a cache keyed by a digest of each account's
submitted fields: only new or changed applications are computed again. The cache holds
keyed hashes, never raw identifiers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskscore.features.application import APPLICATION_FEATURES, application_features
from riskscore.store.hashing import IdentifierHasher

log = logging.getLogger(__name__)

ID_COLUMNS: tuple[str, ...] = ("id_email", "id_phone", "id_address", "id_tax_id",
                               "id_bank_account")
PARALLEL_MIN_ROWS = 50_000  # fewer new applications: computed here (workers cost ~2 s to start)
CHUNKS_PER_WORKER = 8  # work units per process: even ends, bounded memory per unit


def _digest_sql(con: duckdb.DuckDBPyConnection, has_sessions: bool) -> str:
    """SQL of ``(account_id, digest)``: a 64-bit hash of every submitted field of the account
    and its signup session, on their own types (NULL and empty text hash differently),
    computed by DuckDB. A DuckDB release that hashed differently would only make the next
    run recompute every application once."""
    def fields(table: str, alias: str) -> list[str]:
        names = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        return [f"{alias}.{n}" for n in names]

    parts = fields("accounts", "a") + (fields("signup_sessions", "s") if has_sessions else [])
    join = "LEFT JOIN signup_sessions s USING (account_id)" if has_sessions else ""
    return (f"SELECT a.account_id, CAST(hash({', '.join(parts)}) AS VARCHAR) AS digest "
            f"FROM accounts a {join}")


def _compute(accounts: pd.DataFrame, sessions: pd.DataFrame | None,
             hasher: IdentifierHasher, workers: int = 1) -> pd.DataFrame:
    """Application features and hashed identifiers of ``accounts``, in their order: on
    ``workers`` processes in chunks when there are many, so a first run over a portfolio
    takes a fraction of the time and no process holds every row as Python dicts at once.
    The workers are forked where the platform can (a spawned worker would import the
    caller's main module: a script without a ``__main__`` guard would run again); they run
    pure Python, none of the parent's DuckDB or other threads."""
    signups = None if sessions is None else \
        sessions.set_index("account_id").reindex(accounts["account_id"]).reset_index()
    if workers <= 1 or len(accounts) < PARALLEL_MIN_ROWS:
        return _compute_rows(accounts, signups, hasher)
    step = -(-len(accounts) // (workers * CHUNKS_PER_WORKER))
    parts = [slice(i, i + step) for i in range(0, len(accounts), step)]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        frames = list(pool.map(_compute_rows, (accounts.iloc[p] for p in parts),
                               (None if signups is None else signups.iloc[p] for p in parts),
                               repeat(hasher)))
    return pd.concat(frames, ignore_index=True)


def _compute_rows(accounts: pd.DataFrame, signups: pd.DataFrame | None,
                  hasher: IdentifierHasher) -> pd.DataFrame:
    """:func:`_compute` in this process (``signups``: one row per account, aligned)."""
    signup_rows = [] if signups is None else signups.to_dict("records")
    rows = []
    for i, account in enumerate(accounts.to_dict("records")):
        signup = signup_rows[i] if signup_rows else {}
        features = application_features(account, signup)
        country = account.get("country")
        features.update({
            "id_email": hasher.hash("email", account.get("email")),
            "id_phone": hasher.hash("phone", account.get("phone"), country),
            "id_address": hasher.hash("address", account.get("address_line1"),
                                      account.get("city"), account.get("postal_code"), country),
            "id_tax_id": hasher.hash("tax_id", account.get("tax_id")),
            "id_bank_account": hasher.hash("bank_account", account.get("bank_fingerprint")),
        })
        rows.append(features)
    frame = pd.DataFrame(rows, columns=[*APPLICATION_FEATURES, *ID_COLUMNS])
    frame.insert(0, "account_id", accounts["account_id"].to_numpy())
    frame.insert(1, "created_at", accounts["created_at"].to_numpy())
    return frame.astype({c: "string" for c in ID_COLUMNS})


def create_identity(con: duckdb.DuckDBPyConnection, hasher: IdentifierHasher,
                    cache: Path | None = None, has_sessions: bool = True,
                    workers: int = 1) -> int:
    """Create temp table ``identity`` on ``con`` (views ``accounts`` and, when
    ``has_sessions``, ``signup_sessions``): application features and hashed identifiers,
    one row per account (see module doc). Digests, the cache lookup and the cache write run
    in DuckDB; only new or changed applications come to Python (on ``workers`` processes
    when there are many). Returns how many."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE app_digest AS {_digest_sql(con, has_sessions)}")
    columns = ", ".join(["account_id", "created_at", *APPLICATION_FEATURES, *ID_COLUMNS])
    cached = cache is not None and cache.exists()
    if cached:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE app_cached AS
            SELECT {columns}, CAST(digest AS VARCHAR) AS digest FROM read_parquet('{cache}') c
            SEMI JOIN app_digest d ON d.account_id = c.account_id
                                  AND d.digest = CAST(c.digest AS VARCHAR)""")
    # Nothing new (counted on the digests, without reading the accounts' columns again):
    # the cached rows are the table, no copy.
    if cached and not con.execute("SELECT count(*) FROM app_digest ANTI JOIN app_cached "
                                  "USING (account_id)").fetchone()[0]:
        log.info("computing application features for 0 accounts")
        con.execute("DROP TABLE IF EXISTS identity")
        con.execute("ALTER TABLE app_cached RENAME TO identity")
        return 0
    todo = con.execute("SELECT a.* FROM accounts a ANTI JOIN app_cached c USING (account_id)"
                       if cached else "SELECT * FROM accounts").df()
    log.info("computing application features for %d accounts", len(todo))
    sessions = con.execute("SELECT s.* FROM signup_sessions s SEMI JOIN todo USING "
                           "(account_id)").df() if has_sessions else None
    con.register("app_fresh", _compute(todo, sessions, hasher, workers))
    parts = [f"SELECT {columns}, d.digest FROM app_fresh JOIN app_digest d USING (account_id)"]
    if cached:
        parts.append(f"SELECT {columns}, digest FROM app_cached")
    con.execute(f"CREATE OR REPLACE TEMP TABLE identity AS {' UNION ALL '.join(parts)}")
    con.unregister("app_fresh")
    if cached:
        con.execute("DROP TABLE app_cached")
    if len(todo) and cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # concurrent writers (Spark workers)
        con.execute(f"COPY identity TO '{tmp}' (FORMAT parquet)")
        os.replace(tmp, cache)
    return len(todo)


def identity_table(accounts: pd.DataFrame, sessions: pd.DataFrame | None,
                   hasher: IdentifierHasher, cache: Path | None = None) -> pd.DataFrame:
    """:func:`create_identity` for accounts (and sessions) given as DataFrames: the table in
    the order of ``accounts``, without the digest."""
    con = duckdb.connect()
    con.register("accounts", accounts)
    if sessions is not None:
        con.register("signup_sessions", sessions)
    create_identity(con, hasher, cache, sessions is not None)
    table = con.execute("SELECT * EXCLUDE (digest) FROM identity").df()
    return table.set_index("account_id").reindex(accounts["account_id"]).reset_index()


def change_identifiers(changes: pd.DataFrame, hasher: IdentifierHasher,
                       cache: Path | None = None) -> list[tuple[str, str] | None]:
    """``(kind, hash)`` of each change's new value (``change_type``, ``new_value``,
    ``country`` columns). Phone numbers cost ~0.5 ms each to parse, so their hashes are
    cached across runs under a keyed digest of the raw value (never the value itself)."""
    # Python lists: iterating pandas' Arrow-backed strings element by element is slower.
    types, values, countries = (changes[c].tolist() for c in
                                ("change_type", "new_value", "country"))
    phones = np.array([t == "phone" for t in types], bool)
    out: list[tuple[str, str] | None] = [
        None if is_phone else hasher.change_value(t, v, c)
        for is_phone, t, v, c in zip(phones, types, values, countries, strict=True)]
    if not phones.any():
        return out
    at = np.flatnonzero(phones).tolist()
    rows = [(values[i], countries[i]) for i in at]
    keys = [hasher.digest(v, c) for v, c in rows]
    known: dict[str, str | None] = {}
    if cache is not None and cache.exists():
        stored = pd.read_parquet(cache)
        known = {k: v if isinstance(v, str) else None  # unparseable numbers stay None
                 for k, v in zip(stored["key"].tolist(), stored["value"].tolist(), strict=True)}
    fresh = {k: hasher.hash("phone", v, c) for k, (v, c) in zip(keys, rows, strict=True)
             if k not in known}
    if fresh and cache is not None:
        known.update(fresh)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # concurrent writers (Spark workers)
        pd.DataFrame({"key": list(known), "value": list(known.values())}).to_parquet(
            tmp, index=False)
        os.replace(tmp, cache)
    known.update(fresh)
    for i, key in zip(at, keys, strict=True):
        value = known[key]
        out[i] = None if value is None else ("phone", value)
    return out
