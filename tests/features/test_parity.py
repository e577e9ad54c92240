"""Online features (entity store) equal batch features (DuckDB over Parquet)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.features.activity_online import MOVEMENT_WINDOW_DAYS
from riskscore.features.batch import compute_features
from riskscore.features.catalogue import feature_names
from riskscore.features.online import (
    ONBOARDING_FEATURES,
    _activity,
    account_online_features,
    application_online_features,
)
from riskscore.store import (
    IdentifierHasher,
    load_dataset,
    make_engine,
    queries,
    session_factory,
    upgrade,
)
from riskscore.store.record import save_onboarding_features

END = pd.Timestamp("2026-01-01", tz="UTC")


@pytest.fixture(scope="module")
def store(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'parity.db'}"
    upgrade(url)
    engine = make_engine(url)
    load_dataset(sim_dir, engine)
    return session_factory(engine)


@pytest.fixture(scope="module")
def sample(sim_dir: Path) -> pd.DataFrame:
    accounts = pd.read_parquet(sim_dir / "accounts.parquet")
    labels = pd.read_parquet(sim_dir / "labels.parquet").set_index("account_id")
    rng = np.random.default_rng(7)
    fraud = accounts[labels.is_fraud.reindex(accounts.account_id).to_numpy()]
    picked = pd.concat([fraud.groupby(labels.typology.reindex(fraud.account_id).to_numpy())
                        .head(4), accounts.sample(40, random_state=3)])
    age = pd.to_timedelta(rng.uniform(0.5, 150, len(picked)), unit="D")
    return pd.DataFrame({"account_id": picked.account_id.to_numpy(),
                         "as_of": (picked.created_at + age).clip(upper=END).dt.floor("us")
                         .to_numpy()})


def _compare(online: dict[str, float], batch: pd.Series, where: str) -> None:
    names = feature_names()
    assert set(online) >= set(names), sorted(set(names) - set(online))
    got = np.array([online[n] for n in names], float)
    want = batch[names].to_numpy(float)
    bad = [(n, g, w) for n, g, w in zip(names, got, want, strict=True)
           if not np.isclose(g, w, rtol=1e-9, atol=1e-6, equal_nan=True)]
    assert not bad, f"{where}: {bad[:8]}"


def test_account_features_online_equal_batch(sim_dir: Path, store, sample) -> None:
    batch = compute_features(sim_dir, sample)
    with store() as session:
        for row in batch.itertuples(index=False):
            onboarding = batch.loc[(batch.account_id == row.account_id), ONBOARDING_FEATURES]
            save_onboarding_features(session, row.account_id, onboarding.iloc[0].to_dict())
        session.commit()
        for _, row in batch.iterrows():
            online = account_online_features(session, row.account_id,
                                             row.as_of.to_pydatetime())
            _compare(online, row, f"{row.account_id} as of {row.as_of}")


def test_application_features_online_equal_batch(sim_dir: Path, store, sample) -> None:
    accounts = pd.read_parquet(sim_dir / "accounts.parquet").set_index("account_id")
    sessions = pd.read_parquet(sim_dir / "signup_sessions.parquet").set_index("account_id")
    ids = sample.account_id.drop_duplicates().head(40)
    at_signup = pd.DataFrame({"account_id": ids.to_numpy(),
                              "as_of": accounts.created_at.reindex(ids).to_numpy()})
    batch = compute_features(sim_dir, at_signup)
    hasher = IdentifierHasher.from_settings()
    with store() as session:
        for _, row in batch.iterrows():
            account = {"account_id": row.account_id, **accounts.loc[row.account_id].to_dict()}
            signup = sessions.loc[row.account_id].to_dict()
            online = application_online_features(session, account, signup, hasher,
                                                 row.as_of.to_pydatetime())
            _compare(online, row, f"application {row.account_id}")


def test_recent_movements_with_the_balance_before_give_the_same_activity(sim_dir: Path,
                                                                          store) -> None:
    """Online reads only the movements of the longest window, the earlier ones as their
    signed sum: the busiest accounts' activity features equal those from every movement."""
    counts = pd.read_parquet(sim_dir / "movements.parquet", columns=["account_id"]).account_id
    busiest = counts.value_counts().head(25).index
    truncated = 0
    with store() as session:
        for account_id in busiest:
            profile = queries.account_profile(session, account_id)
            signup = queries.signup_of(session, account_id)
            for as_of in (END, END - pd.Timedelta(days=100), END - pd.Timedelta(days=200)):
                when = as_of.to_pydatetime()
                since = when - timedelta(days=MOVEMENT_WINDOW_DAYS)
                every = queries.account_event_columns(session, account_id, when)
                recent = queries.account_event_columns(session, account_id, when,
                                                       movements_since=since)
                truncated += len(recent.movements["ts"]) < len(every.movements["ts"])
                want = _activity(every, profile.country, signup, profile.created_at, when)
                got = _activity(recent, profile.country, signup, profile.created_at, when)
                assert got.keys() == want.keys()
                bad = [k for k in want if not (got[k] == want[k] or
                                               (np.isnan(got[k]) and np.isnan(want[k])))]
                assert not bad, f"{account_id} as of {as_of}: {bad[:8]}"
    assert truncated > 40


def test_the_cluster_shortcut_agrees_with_the_walk(store, sample) -> None:
    """Accounts no other account shares a clustering identifier with skip the cluster walk
    (the duplicate counts say so): their cluster features equal the walk's, and so do the
    others'."""
    from riskscore.features.links import CLUSTER_MAX

    alone = 0
    with store() as session:
        for row in sample.itertuples(index=False):
            as_of = row.as_of.to_pydatetime()
            hashes = queries.identifier_hashes(session, row.account_id, as_of, shared_only=True)
            walk = queries.linked_cluster(session, row.account_id, as_of, max_size=CLUSTER_MAX,
                                          own_hashes=hashes)
            online = account_online_features(session, row.account_id, as_of)
            assert (online["cluster_size"], online["cluster_known_fraud"]) == \
                (min(walk.size, CLUSTER_MAX), walk.known_fraud), row.account_id
            alone += walk.size == 1
    assert 0 < alone < len(sample)  # both paths taken
