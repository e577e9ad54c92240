"""Links in batch: connected components (one as-of time) equal the replay; signup
velocity counts equal a direct count."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from riskscore.features.links import (
    CLUSTER_MAX,
    LINK_KINDS,
    component_clusters,
    component_duplicates,
    duplicate_features,
    link_rows,
    replay_clusters,
    velocity_features,
    window_counts,
)

AS_OF = 1_000


def _links(rows: list[tuple[int, int, int, bool]]) -> dict[str, np.ndarray]:
    aid, h, first, onboarding = zip(*rows, strict=True)
    return {"aid": np.array(aid, np.int64), "h": np.array(h, np.uint64),
            "first_us": np.array(first, np.int64), "onboarding": np.array(onboarding, bool)}


def _both(links: dict[str, np.ndarray], snap_aid: np.ndarray,
          known_us: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    as_of = np.full(len(snap_aid), AS_OF, np.int64)
    components = component_clusters(links, snap_aid, AS_OF, known_us)
    assert components is not None
    return components, replay_clusters(links, snap_aid, as_of, known_us)


def test_components_count_links_and_fraud_known_before_as_of() -> None:
    # Accounts 0-2 share identifier 10 (0, 1 at signup; 2 by a later login), 2 and 3 share
    # identifier 11; 4 uses 11 only after the as-of time; 5 and 6 share 12 after it.
    links = _links([(0, 10, 100, True), (1, 10, 200, True), (2, 10, 500, False),
                    (2, 11, 300, True), (3, 11, 400, True), (4, 11, 1_500, False),
                    (4, 13, 50, True), (5, 12, 2_000, False), (6, 12, 900, True)])
    # 1 became known fraud before the as-of time, 3 at it (not yet visible), 6 after.
    known = np.array([np.nan, 800, np.nan, AS_OF, np.nan, np.nan, 1_200, np.nan])
    snap_aid = np.array([0, 1, 2, 3, 4, 5, 6, 7, -1])
    components, replay = _both(links, snap_aid, known)
    for got in (components, replay):
        np.testing.assert_array_equal(got["cluster_size"], [4, 4, 4, 4, 1, 1, 1, 1, 1])
        np.testing.assert_array_equal(got["cluster_known_fraud"], [1, 0, 1, 1, 0, 0, 0, 0, 0])


def test_components_cap_the_size() -> None:
    n = CLUSTER_MAX + 20
    links = _links([(a, 99, a, True) for a in range(n)])
    components, replay = _both(links, np.arange(n), np.full(n, np.nan))
    assert (components["cluster_size"] == CLUSTER_MAX).all()
    np.testing.assert_array_equal(components["cluster_size"], replay["cluster_size"])


@pytest.mark.parametrize("seed", range(6))
def test_components_equal_the_replay_on_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_accounts, n_rows = 300, 700
    first = rng.integers(0, 2 * AS_OF, n_rows)
    onboarding = rng.random(n_rows) < 0.5
    first[onboarding] = np.minimum(first[onboarding], AS_OF - 1)  # signed up before as-of
    links = _links(list(zip(rng.integers(0, n_accounts, n_rows).tolist(),
                            rng.integers(0, 250, n_rows).tolist(), first.tolist(),
                            onboarding.tolist(), strict=True)))
    known = np.where(rng.random(n_accounts) < 0.2, rng.integers(0, 2 * AS_OF, n_accounts),
                     np.nan)
    snap_aid = rng.permutation(np.concatenate([np.arange(n_accounts), [-1, 3, 3]]))
    components, replay = _both(links, snap_aid, known)
    assert (components["cluster_size"] > 1).sum() > 50
    assert (components["cluster_known_fraud"] > 0).sum() > 10
    for name in ("cluster_size", "cluster_known_fraud"):
        np.testing.assert_array_equal(components[name], replay[name])


def test_application_identifiers_first_used_at_as_of_are_left_to_the_replay() -> None:
    # Account 1 signs up exactly at the as-of time: the replay adds its identifiers when
    # it is queried, in snapshot order, which components of "before as-of" cannot express.
    links = _links([(0, 10, 100, True), (1, 10, AS_OF, True)])
    assert component_clusters(links, np.array([0, 1]), AS_OF, np.full(2, np.nan)) is None
    assert component_clusters(links, np.array([0]), AS_OF, np.full(2, np.nan)) is not None


@pytest.mark.parametrize("seed", range(5))
def test_window_counts_equal_a_direct_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    codes = rng.integers(-1, 12, n)
    times = rng.integers(0, 60, n) * 10  # many ties, and rows exactly one span apart
    spans = (10, 100)
    got = window_counts(codes, times, spans)
    for span, counts in zip(spans, got, strict=True):
        direct = [0 if c < 0 else int(((codes == c) & (times < t) & (times >= t - span)).sum())
                  for c, t in zip(codes, times, strict=True)]
        assert counts.tolist() == direct


def test_velocity_counts_sessions_of_the_same_device_ip_and_network_before() -> None:
    t0 = pd.Timestamp("2025-03-01", tz="UTC")
    rows = [  # account, minutes after t0, device, ip
        ("a", 0, "d1", "10.0.0.1"), ("b", 30, "d 1", "10.0.0.2"), ("c", 30, "d1", "10.0.1.1"),
        ("d", 90, "d1", "10.0.0.1"), ("e", 60 * 24 + 30, "d1", " 10.0.0.1"),
        ("f", 100, "", "x"), ("g", 101, "", "x")]
    sessions = pd.DataFrame({"account_id": [r[0] for r in rows],
                             "completed_at": [t0 + pd.Timedelta(minutes=r[1]) for r in rows],
                             "device_id": [r[2] for r in rows], "ip": [r[3] for r in rows]})
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("signup_sessions", sessions)
    got = velocity_features(con)
    # b and c at the same time do not see each other; "d 1" is d1 once whitespace is gone;
    # e is one day and 30 minutes after a: it sees b, c and d; empty devices link nothing.
    assert got.loc[list("abcdefg"), "signups_same_device_1h"].tolist() == [0, 1, 1, 2, 0, 0, 0]
    assert got.loc[list("abcdefg"), "signups_same_device_1d"].tolist() == [0, 1, 1, 3, 3, 0, 0]
    assert got.loc[list("abcde"), "signups_same_ip_1d"].tolist() == [0, 0, 0, 1, 1]
    assert got.loc[list("abcde"), "signups_same_ip24_1d"].tolist() == [0, 1, 0, 2, 2]
    assert got.loc[list("fg"), "signups_same_ip_1h"].tolist() == [0, 1]
    assert got.loc[list("fg"), "signups_same_ip24_1h"].tolist() == [0, 0]  # no /24 in "x"
    assert got["platform_signups_1d"].tolist() == [0, 1, 1, 3, 5, 4, 5]
    con.execute("CREATE TABLE account_keys AS SELECT * FROM (VALUES ('g', 0), ('a', 1), "
                "('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6)) t(account_id, aid)")
    by_key = velocity_features(con, by_key=True)
    keys = {"g": 0, "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
    pd.testing.assert_frame_equal(by_key.loc[[keys[a] for a in got.index]].reset_index(drop=True),
                                  got.reset_index(drop=True))


@pytest.mark.parametrize("seed", range(4))
def test_duplicate_counts_by_matrix_products_equal_the_sql(seed: int) -> None:
    """A portfolio run counts duplicates by sparse products (``component_duplicates``); the
    general path in SQL gives the same counts, including identifiers an application used
    exactly at the as-of time (its own count them, others' do not yet) and fraud known at
    the as-of time (not yet)."""
    rng = np.random.default_rng(seed)
    n_accounts, n_rows = 200, 900
    t0 = pd.Timestamp("2025-06-01", tz="UTC")
    as_of = t0 + pd.Timedelta(seconds=AS_OF)
    first = rng.integers(0, 2 * AS_OF, n_rows)
    first[rng.random(n_rows) < 0.05] = AS_OF
    kinds = rng.choice(LINK_KINDS, n_rows)
    ident = pd.DataFrame({
        "aid": rng.integers(0, n_accounts, n_rows).astype(np.int32), "kind": kinds,
        "h": [hash((k, v)) % 2**63 for k, v in zip(kinds, rng.integers(0, 60, n_rows),
                                                    strict=True)],
        "first_seen": t0 + pd.to_timedelta(first, unit="s"),
        "onboarding": rng.random(n_rows) < 0.5,
    }).drop_duplicates(["aid", "kind", "h"])
    ids = [f"acct_{a}" for a in range(n_accounts)]
    known = pd.Series(t0 + pd.to_timedelta(rng.integers(0, 2 * AS_OF, n_accounts), unit="s"))
    known[rng.random(n_accounts) < 0.7] = pd.NaT
    known[:3] = as_of
    snap_aid = np.concatenate([rng.permutation(n_accounts), [3, -1]])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("ident_df", ident)
    con.execute("CREATE TABLE ident AS SELECT aid, kind, CAST(h AS UBIGINT) AS h, first_seen, "
                "onboarding FROM ident_df")
    con.register("account_keys", pd.DataFrame({"account_id": ids, "aid": range(n_accounts)}))
    con.register("labels", pd.DataFrame({"account_id": ids, "label_known_at": known}))
    con.register("snapshot_keys", pd.DataFrame({
        "snapshot_id": np.arange(len(snap_aid)),
        "aid": pd.Series(snap_aid, dtype="Int64").mask(snap_aid < 0),
        "as_of": as_of}))
    sql = duplicate_features(con, has_labels=True).sort_index()
    known_us = known.to_numpy("datetime64[us]").astype(np.int64).astype(float)
    known_us[known.isna().to_numpy()] = np.nan
    products = component_duplicates(link_rows(con), snap_aid,
                                    int(as_of.to_datetime64().astype("datetime64[us]")
                                        .astype(np.int64)), known_us, block=37)
    assert sql["shared_ip"].sum() > 50 and sql.filter(like="fraud_shared_").to_numpy().sum() > 10
    for name in sql.columns:
        np.testing.assert_array_equal(products[name], sql[name].to_numpy(), err_msg=name)
