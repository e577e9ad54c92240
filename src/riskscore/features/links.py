"""Identity-link features in batch: duplicates, linked clusters and signup velocity.

Accounts are linked when they use the same identifier (after normalisation): the
application's email, phone, address, tax id, bank account, device and IP, plus the
devices and IPs of later logins and the new values of later changes. Each identifier
counts from the moment an account first used it; fraud counts from the moment it
became known. The store answers the same questions for one account online.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from riskscore.features.identity import ID_COLUMNS, change_identifiers
from riskscore.identifiers import CLUSTER_KINDS
from riskscore.store.hashing import IdentifierHasher

LINK_KINDS: tuple[str, ...] = ("email", "phone", "address", "tax_id", "bank_account", "device",
                               "ip")
CLUSTER_MAX = 500
APPLICATION_KINDS: tuple[str, ...] = tuple(c.removeprefix("id_") for c in ID_COLUMNS)
LINK_FEATURES: dict[str, str] = {
    **{f"shared_{k}": f"Other accounts that used the same {k.replace('_', ' ')} before the "
       "as-of time." for k in LINK_KINDS},
    **{f"fraud_shared_{k}": f"Of those sharing the {k.replace('_', ' ')}, accounts known to be "
       "fraudulent before the as-of time." for k in LINK_KINDS},
    "cluster_size": f"Accounts in the linked cluster (sharing any of {', '.join(CLUSTER_KINDS)},"
                    f" transitively), capped at {CLUSTER_MAX}.",
    "cluster_known_fraud": "Other members of the linked cluster known to be fraudulent.",
}
VELOCITY_FEATURES: dict[str, str] = {
    "signups_same_device_1h": "Signups from the same device in the hour before this one.",
    "signups_same_device_1d": "Signups from the same device in the day before this one.",
    "signups_same_ip_1h": "Signups from the same IP in the hour before this one.",
    "signups_same_ip_1d": "Signups from the same IP in the day before this one.",
    "signups_same_ip24_1h": "Signups from the same /24 network in the hour before this one.",
    "signups_same_ip24_1d": "Signups from the same /24 network in the day before this one.",
    "platform_signups_1d": "Platform-wide signups in the day before this one.",
    "platform_signup_ratio": "Platform signups in the last day over the daily average of the 28 "
                             "days before (1 = normal).",
}


def changed_identifiers(con: duckdb.DuckDBPyConnection, hasher: IdentifierHasher,
                        cache: Path | None = None) -> pd.DataFrame:
    """``(account_id, kind, value, ts)`` of the changes' new values that are identifiers,
    hashed as the application's are (views ``changes`` and ``accounts`` on ``con``;
    ``cache``: see :func:`identity.change_identifiers`). Python work (normalising and
    hashing each value): a batch job runs it in a thread beside DuckDB's first scans."""
    ch = con.execute("""SELECT c.account_id, c.change_type, c.new_value, a.country, c.ts
                        FROM changes c JOIN accounts a USING (account_id)
                        WHERE c.new_value IS NOT NULL""").df()
    values = change_identifiers(ch, hasher, cache)
    keep = np.array([v is not None for v in values], bool)
    return pd.DataFrame({"account_id": ch["account_id"][keep],
                         "kind": [v[0] for v in values if v],
                         "value": [v[1] for v in values if v], "ts": ch["ts"][keep]})


def identifier_events(con: duckdb.DuckDBPyConnection, tables: set[str],
                      changed: pd.DataFrame | None = None) -> None:
    """Create table ``ident(aid, kind, h, first_seen, onboarding)`` on ``con``: when each
    account (``aid`` of table ``account_keys``) first used each identifier that more than
    one account used (the only ones that link), the identifier as a 64-bit hash ``h`` of
    its kind and normalised value (accounts too are grouped by a 64-bit hash of their id:
    joins and group-bys on integers instead of strings; a false link needs a 64-bit
    collision among the ~10M values of a million accounts, odds of a few in a million).
    Table ``identity`` on
    ``con`` holds the hashed application identifiers per account
    (:func:`identity.create_identity`), tables ``device_first`` and ``ip_first`` the
    logins' first uses (``batch_sql.first_use_sql``, when ``tables`` has logins);
    ``changed``: the new values of changes (:func:`changed_identifiers`), when
    ``changes.new_value`` is present."""
    sources = [f"SELECT hash(account_id) AS ah, '{kind}' AS kind, id_{kind} AS value, "
               "created_at AS ts, TRUE AS onboarding FROM identity" for kind in APPLICATION_KINDS]
    # The signup's device and IP, and those of successful logins (failed logins link
    # nothing: one credential-stuffing device would tie all its victims), come from the
    # first-use tables of first_use_sql: each account uses few devices and IPs many times,
    # and there they are one row per account and value already.
    if "signup_sessions" in tables or "logins" in tables:
        sources += [f"SELECT ah, '{kind}', {key}, least(signup_ts, first_ok_ts), signup_ts IS "
                    f"NOT NULL FROM {kind}_first WHERE coalesce(signup_ts, first_ok_ts) IS NOT "
                    "NULL" for kind, key in (("device", "device_id"), ("ip", "ip"))]
    if "changes" in tables:
        sources += ["SELECT hash(account_id), 'device', device_id, min(ts), FALSE FROM "
                    "changes GROUP BY account_id, device_id",
                    "SELECT hash(account_id), 'ip', ip, min(ts), FALSE FROM changes GROUP BY "
                    "account_id, ip"]
    if changed is not None:
        con.register("changed_ids", changed)
        sources.append("SELECT hash(account_id), kind, value, ts, FALSE FROM changed_ids")
    # Most identifiers belong to one account and can link nothing: rows are reduced to the
    # values more than one account used (an integer group-by), and only those are grouped
    # per account and joined to the account keys.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ident_rows AS
        SELECT ah, kind,
               hash(kind, CASE WHEN kind IN ('device', 'ip')
                               THEN regexp_replace(value, '\\s+', '', 'g')
                               ELSE value END) AS h, ts, onboarding
        FROM ({' UNION ALL '.join(sources)}) WHERE value IS NOT NULL""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE ident AS
        SELECT k.aid, u.kind, u.h, u.first_seen, u.onboarding FROM (
            SELECT ah, kind, h, min(ts) AS first_seen, bool_or(onboarding) AS onboarding
            FROM ident_rows
            WHERE h IN (SELECT h FROM ident_rows GROUP BY h HAVING min(ah) <> max(ah))
            GROUP BY ALL) u
        JOIN account_keys k USING (ah)""")
    con.execute("DROP TABLE ident_rows")
    if changed is not None:
        con.unregister("changed_ids")


def create_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Create tables ``account_keys(account_id, aid, ah)`` (a dense integer per account of
    view ``accounts``, and the 64-bit hash of its id that ``identifier_events`` groups by)
    and ``snapshot_keys(snapshot_id, aid, ah, as_of)`` (table ``snapshots``; aid NULL for
    an unknown account), so the link and activity stages join and group on integers."""
    con.execute("""CREATE OR REPLACE TEMP TABLE account_keys AS
                   SELECT account_id, CAST(row_number() OVER () - 1 AS INTEGER) AS aid,
                          hash(account_id) AS ah
                   FROM accounts""")
    con.execute("""CREATE OR REPLACE TEMP TABLE snapshot_keys AS
                   SELECT s.snapshot_id, k.aid, hash(s.account_id) AS ah, s.as_of
                   FROM snapshots s LEFT JOIN account_keys k USING (account_id)""")


def duplicate_features(con: duckdb.DuckDBPyConnection, has_labels: bool) -> pd.DataFrame:
    """``shared_<kind>`` and ``fraud_shared_<kind>`` per snapshot, indexed by
    ``snapshot_id`` (tables ``snapshot_keys``, ``ident``, ``account_keys`` and optionally
    ``labels`` on ``con``)."""
    known = ("LEFT JOIN (SELECT k.aid, l.label_known_at FROM labels l JOIN account_keys k "
             "USING (account_id)) l USING (aid)" if has_labels else "")
    known_at = "l.label_known_at" if has_labels else "NULL::TIMESTAMPTZ"
    # One row per snapshot, kind and other account (an account sharing two devices with
    # this one counts once), then one row per snapshot and kind, spread into columns here
    # (a column per kind in SQL would be an aggregate FILTERed per kind: far slower). The
    # value hash ``h`` includes the kind, so the join is on it alone; the other account's
    # fraud discovery is joined to its identifiers before the pairs are formed.
    got = con.execute(f"""
        WITH other AS (
            SELECT i.aid, i.h, i.first_seen, {known_at} AS known_at,
                   CAST(list_position({list(LINK_KINDS)}, i.kind) - 1 AS TINYINT) AS kind
            FROM ident i {known}
            WHERE i.kind IN ({', '.join(f"'{k}'" for k in LINK_KINDS)})
        ),
        own AS (
            SELECT s.snapshot_id, s.aid, s.as_of, i.h
            FROM snapshot_keys s JOIN ident i ON i.aid = s.aid
             AND (i.first_seen < s.as_of OR (i.onboarding AND i.first_seen <= s.as_of))
        )
        SELECT o.snapshot_id, j.kind, count(DISTINCT j.aid) AS shared,
               count(DISTINCT CASE WHEN j.known_at < o.as_of THEN j.aid END) AS fraud
        FROM own o JOIN other j ON j.h = o.h AND j.aid <> o.aid AND j.first_seen < o.as_of
        GROUP BY ALL""").fetchnumpy()
    ids = con.execute("SELECT snapshot_id FROM snapshot_keys").fetchnumpy()["snapshot_id"]
    index = pd.Index(ids, name="snapshot_id")
    rows = index.get_indexer(got["snapshot_id"])
    frame = {}
    for stat, prefix in (("shared", "shared_"), ("fraud", "fraud_shared_")):
        for k, kind in enumerate(LINK_KINDS):
            column = np.zeros(len(index))
            of_kind = got["kind"] == k
            column[rows[of_kind]] = got[stat][of_kind]
            frame[f"{prefix}{kind}"] = column
    return pd.DataFrame(frame, index=index)


def link_rows(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """Table ``ident`` as arrays: ``aid``, ``kind`` (position in ``LINK_KINDS``), ``h``,
    ``first_us`` (epoch microseconds) and ``onboarding``."""
    got = con.execute(f"""
        SELECT aid, CAST(list_position({list(LINK_KINDS)}, kind) - 1 AS TINYINT) AS kind, h,
               epoch_us(first_seen) AS first_us, onboarding
        FROM ident WHERE kind IN ({', '.join(f"'{k}'" for k in LINK_KINDS)})""").fetchnumpy()
    return {"aid": got["aid"].astype(np.int64), "kind": got["kind"].astype(np.int8),
            "h": got["h"].astype(np.uint64), "first_us": got["first_us"].astype(np.int64),
            "onboarding": got["onboarding"].astype(bool)}


def _incidence(accounts: np.ndarray, values: np.ndarray, picked: np.ndarray,
               shape: tuple[int, int]) -> Any:
    """The 0/1 account-by-value matrix (SciPy CSR) of the ``picked`` rows."""
    from scipy import sparse

    return sparse.csr_matrix((np.ones(int(picked.sum()), np.int32),
                              (accounts[picked], values[picked])), shape=shape)


def component_duplicates(links: dict[str, np.ndarray], snap_aid: np.ndarray, as_of_us: int,
                         known_us: np.ndarray, block: int = 250_000) -> dict[str, np.ndarray]:
    """:func:`duplicate_features` when every snapshot has the same as-of time, as NumPy
    columns in snapshot order (``links``: :func:`link_rows`; ``snap_aid``, ``known_us``: as
    for :func:`cluster_features`). Per kind, the accounts sharing an identifier with an
    account are the non-zeros of its row of ``own @ others.T``, the product of two
    account-by-identifier incidence matrices: its own identifiers (first used before the
    as-of time, or at it by its application) and everyone's first used before it. The
    account itself is such a non-zero when an identifier of its own counts as others'.
    SciPy runs the products without the GIL, beside DuckDB; rows go in blocks of ``block``
    accounts to bound their memory."""
    n_accounts = len(known_us)
    with np.errstate(invalid="ignore"):
        fraud = known_us < as_of_us  # NaN: never known
    first, aid = links["first_us"], links["aid"]
    others = first < as_of_us
    own = others | (links["onboarding"] & (first <= as_of_us))
    known = snap_aid >= 0
    at = np.where(known, snap_aid, 0)
    out: dict[str, np.ndarray] = {}
    for k, kind in enumerate(LINK_KINDS):
        of_kind = links["kind"] == k
        kind_aid = aid[of_kind]
        _, value = np.unique(links["h"][of_kind], return_inverse=True)
        shape = (n_accounts, int(value.max()) + 1 if len(value) else 0)
        mine = _incidence(kind_aid, value, own[of_kind], shape)
        # Transposed once (a product with a transpose view converts it on every block).
        theirs = _incidence(kind_aid, value, others[of_kind], shape).T.tocsr()
        theirs_fraud = _incidence(kind_aid, value, (others & fraud[aid])[of_kind],
                                  shape).T.tocsr()
        shared, frauds = np.zeros(n_accounts), np.zeros(n_accounts)
        for start in range(0, n_accounts, block):
            rows = mine[start:start + block]
            shared[start:start + block] = np.diff((rows @ theirs).indptr)
            frauds[start:start + block] = np.diff((rows @ theirs_fraud).indptr)
        itself = np.bincount(aid[of_kind & others], minlength=n_accounts) > 0
        shared -= itself
        frauds -= itself & fraud
        out[f"shared_{kind}"] = np.where(known, shared[at], 0.0)
        out[f"fraud_shared_{kind}"] = np.where(known, frauds[at], 0.0)
    return out


class _Clusters:
    """Union-find over integer nodes (accounts are ``0 .. n_accounts - 1``, identifiers
    above), with account counts and known-fraud counts per root."""

    def __init__(self, n_accounts: int) -> None:
        self.n_accounts = n_accounts
        self.parent: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self.fraud: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.size[x] = 1 if x < self.n_accounts else 0  # accounts count, identifiers don't
            self.fraud[x] = 0
            return x
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        self.fraud[ra] += self.fraud[rb]


def shared_links(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """Rows of ``ident`` of the cluster kinds whose value more than one account used, as
    arrays: ``aid``, ``h``, ``first_us`` (epoch microseconds) and ``onboarding``."""
    kinds = ", ".join(f"'{k}'" for k in CLUSTER_KINDS)
    got = con.execute(f"""
        SELECT i.aid, i.h, epoch_us(i.first_seen) AS first_us, i.onboarding FROM ident i
        JOIN (SELECT h FROM ident WHERE kind IN ({kinds}) GROUP BY h
              HAVING count(DISTINCT aid) > 1) USING (h)
        WHERE i.kind IN ({kinds})""").fetchnumpy()
    return {"aid": got["aid"].astype(np.int64), "h": got["h"].astype(np.uint64),
            "first_us": got["first_us"].astype(np.int64),
            "onboarding": got["onboarding"].astype(bool)}


def cluster_features(links: dict[str, np.ndarray], snap_aid: np.ndarray,
                     as_of_us: np.ndarray, known_us: np.ndarray) -> dict[str, np.ndarray]:
    """Linked-cluster size and known-fraud members per snapshot (``snap_aid``: account key
    per snapshot, -1 unknown; ``as_of_us``: its as-of time; ``known_us``: when each
    account's fraud became known, per ``aid``, NaN never).

    As everywhere, a snapshot sees what happened strictly before its as-of time, plus the
    account's own application identifiers. One as-of time for all snapshots (a portfolio
    run) is answered by connected components; otherwise by :func:`replay_clusters`.
    """
    if len(snap_aid) and (as_of_us == as_of_us[0]).all():
        found = component_clusters(links, snap_aid, int(as_of_us[0]), known_us)
        if found is not None:
            return found
    return replay_clusters(links, snap_aid, as_of_us, known_us)


def component_clusters(links: dict[str, np.ndarray], snap_aid: np.ndarray, as_of_us: int,
                       known_us: np.ndarray) -> dict[str, np.ndarray] | None:
    """:func:`replay_clusters` when every snapshot has the same as-of time: the connected
    components of the graph of accounts and the identifiers they first used before then,
    with the accounts known to be fraudulent before then counted per component. None when
    a snapshot's account has application identifiers first used at or after the as-of
    time (the replay adds those at query time, in snapshot order: it answers that case)."""
    from scipy import sparse  # half a second of imports: only when components are needed
    from scipy.sparse import csgraph

    n_accounts = len(known_us)
    late = links["onboarding"] & (links["first_us"] >= as_of_us)
    if late.any() and np.isin(links["aid"][late], snap_aid).any():
        return None
    before = links["first_us"] < as_of_us
    values, value_index = np.unique(links["h"][before], return_inverse=True)
    n_nodes = n_accounts + len(values)
    graph = sparse.coo_matrix((np.ones(int(before.sum()), np.int8),
                               (links["aid"][before], n_accounts + value_index)),
                              shape=(n_nodes, n_nodes))
    _, label = csgraph.connected_components(graph, directed=False)
    account_label = label[:n_accounts]
    fraud = (known_us < as_of_us).astype(np.int64)  # NaN compares False: never known
    sizes = np.bincount(account_label)
    frauds = np.bincount(account_label, weights=fraud)
    known = snap_aid >= 0
    aid = np.where(known, snap_aid, 0)
    return {"cluster_size": np.where(known, np.minimum(sizes[account_label[aid]], CLUSTER_MAX),
                                     1.0).astype(float),
            "cluster_known_fraud": np.where(known, frauds[account_label[aid]] - fraud[aid],
                                            0.0).astype(float)}


def replay_clusters(links: dict[str, np.ndarray], snap_aid: np.ndarray,
                    as_of_us: np.ndarray, known_us: np.ndarray) -> dict[str, np.ndarray]:
    """Cluster features (see :func:`cluster_features`) for any as-of times, by replaying
    identifier first-uses and fraud discoveries in time order (only identifiers ever
    shared matter). At equal times queries come first: what happens at t is not visible
    at t."""
    n_accounts = len(known_us)
    sizes = np.ones(len(snap_aid))
    frauds = np.zeros(len(snap_aid))
    involved = np.zeros(n_accounts, bool)
    involved[links["aid"]] = True
    queries = np.flatnonzero((snap_aid >= 0) & involved[np.maximum(snap_aid, 0)])
    if not len(queries):
        return {"cluster_size": sizes, "cluster_known_fraud": frauds}
    known = np.flatnonzero(~np.isnan(known_us) & involved)
    _, value_index = np.unique(links["h"], return_inverse=True)
    nodes = n_accounts + value_index
    t = np.concatenate([as_of_us[queries].astype(float), known_us[known],
                        links["first_us"].astype(float)])
    order = np.repeat([0, 1, 2], [len(queries), len(known), len(nodes)])
    account = np.concatenate([snap_aid[queries], known, links["aid"]])
    item = np.concatenate([queries, np.zeros(len(known), np.int64), nodes])
    ranked = np.lexsort((order, t))
    application: dict[int, list[int]] = {}
    own = links["onboarding"]
    for a, node in zip(links["aid"][own].tolist(), nodes[own].tolist(), strict=True):
        application.setdefault(a, []).append(node)
    uf = _Clusters(n_accounts)
    known_before: set[int] = set()
    for kind, a, x in zip(order[ranked].tolist(), account[ranked].tolist(),
                          item[ranked].tolist(), strict=True):
        if kind == 2:
            uf.union(a, x)
        elif kind == 1:
            known_before.add(a)
            uf.fraud[uf.find(a)] += 1
        else:
            for node in application.get(a, ()):
                uf.union(a, node)
            root = uf.find(a)
            sizes[x] = min(uf.size[root], CLUSTER_MAX)
            frauds[x] = uf.fraud[root] - (a in known_before)
    return {"cluster_size": sizes, "cluster_known_fraud": frauds}


def window_counts(codes: np.ndarray, times: np.ndarray,
                  spans: tuple[int, ...]) -> list[np.ndarray]:
    """For each row and each span: rows with the same code (``-1``: none, counts 0) whose
    time lies in ``[t - span, t)``. Times are ranked so that code and rank pack into one
    int64 key; sorted by it, each count is the difference of two binary searches of sorted
    needles."""
    distinct, rank = np.unique(times, return_inverse=True)
    stride = len(distinct) + 1
    rows = np.flatnonzero(codes >= 0)
    base = codes[rows] * stride
    keys = base + rank[rows]
    order = np.argsort(keys, kind="stable")
    keys, base, rows = keys[order], base[order], rows[order]
    upper = np.searchsorted(keys, keys)
    out = []
    for span in spans:
        first = np.searchsorted(distinct, distinct - span)[rank[rows]]
        counts = np.zeros(len(codes), np.int64)
        counts[rows] = upper - np.searchsorted(keys, base + first)
        out.append(counts)
    return out


def _codes(hashes: np.ndarray) -> np.ndarray:
    """Dense integer codes of 64-bit value hashes (a masked entry, NULL: -1)."""
    codes = np.unique(np.ma.getdata(hashes), return_inverse=True)[1].astype(np.int64)
    return np.where(np.ma.getmaskarray(hashes), -1, codes)


def velocity_features(con: duckdb.DuckDBPyConnection, by_key: bool = False) -> pd.DataFrame:
    """Signup velocity per account, frozen at its signup (table ``signup_sessions``): the
    sessions of the same device, IP and /24 (whitespace removed; empty values link
    nothing; values compared by 64-bit hash, see :func:`identifier_events`) in the hour
    and the day before, and the platform's signups. Indexed by ``account_id``, or with
    ``by_key`` by the account's ``aid`` (table ``account_keys``, see :func:`create_keys`)."""
    account = ("(SELECT aid FROM account_keys k WHERE k.account_id = signup_sessions.account_id)"
               if by_key else "account_id")
    got = con.execute(rf"""
        WITH s AS (
            SELECT {account} AS account_id, epoch_us(completed_at) AS completed_us,
                   regexp_replace(device_id, '\s+', '', 'g') AS device,
                   regexp_replace(ip, '\s+', '', 'g') AS ip
            FROM signup_sessions),
        k AS (SELECT *, regexp_extract(ip, '^(.*)\.[^.]*$', 1) AS ip24 FROM s)
        SELECT account_id, completed_us,
               CASE WHEN device <> '' THEN hash(device) END AS device,
               CASE WHEN ip <> '' THEN hash(ip) END AS ip,
               CASE WHEN ip24 <> '' THEN hash(ip24) END AS ip24
        FROM k""").fetchnumpy()
    c = got["completed_us"].astype(np.int64)
    hour, day, month = 3_600 * 10**6, 86_400 * 10**6, 29 * 86_400 * 10**6
    counts = {}
    for key in ("device", "ip", "ip24"):
        codes = _codes(got[key])
        counts[f"signups_same_{key}_1h"], counts[f"signups_same_{key}_1d"] = window_counts(
            codes, c, (hour, day))
    times = np.sort(c)
    last_day = np.searchsorted(times, c, "left") - np.searchsorted(times, c - day, "left")
    before = (np.searchsorted(times, c - day, "left")
              - np.searchsorted(times, c - month, "left")) / 28.0
    return pd.DataFrame({
        **counts,
        "platform_signups_1d": last_day,
        "platform_signup_ratio": last_day / np.maximum(before, 1.0),
    }, index=pd.Index(np.ma.filled(got["account_id"], -1) if by_key else got["account_id"],
                      name="aid" if by_key else "account_id")).astype("float64")
