"""Batch features: correct values, and point-in-time correctness."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskscore.features.batch import compute_features
from riskscore.features.catalogue import feature_names
from riskscore.schema import TABLES

CUTOFF = pd.Timestamp("2025-07-01", tz="UTC")


def _write(df: pd.DataFrame, root: Path, name: str) -> None:
    table = pa.Table.from_pandas(df, schema=TABLES[name].schema, preserve_index=False)
    pq.write_table(table, root / f"{name}.parquet")


@pytest.fixture(scope="module")
def snapshots(sim_dir: Path) -> pd.DataFrame:
    accounts = pd.read_parquet(sim_dir / "accounts.parquet")
    labels = pd.read_parquet(sim_dir / "labels.parquet")
    early = accounts[accounts.created_at < CUTOFF - pd.Timedelta(days=20)]
    rng = np.random.default_rng(0)
    fraud = early[early.account_id.isin(labels.account_id[labels.is_fraud])]
    pick = pd.concat([fraud, early.sample(250, random_state=1)]).drop_duplicates("account_id")
    later = pick.created_at + pd.to_timedelta(rng.uniform(0, 100, len(pick)), unit="D")
    return pd.concat([
        pd.DataFrame({"account_id": pick.account_id, "as_of": later.clip(upper=CUTOFF)}),
        pd.DataFrame({"account_id": pick.account_id[:120], "as_of": pick.created_at[:120]}),
        pd.DataFrame({"account_id": pick.account_id[:120], "as_of": CUTOFF}),
    ], ignore_index=True)


@pytest.fixture(scope="module")
def features(sim_dir: Path, snapshots: pd.DataFrame) -> pd.DataFrame:
    return compute_features(sim_dir, snapshots)


def test_every_catalogued_feature_is_computed(features: pd.DataFrame) -> None:
    assert list(features.columns[2:]) == feature_names()
    assert features[feature_names()].dtypes.eq("float64").all()
    assert not features[feature_names()].drop(columns=["max_amount_7d", "mean_amount_90d"]) \
        .isna().any().any()


def test_values_match_a_direct_count(sim_dir: Path, features: pd.DataFrame) -> None:
    mov = pd.read_parquet(sim_dir / "movements.parquet")
    for row in features.sample(40, random_state=2).itertuples():
        mine = mov[(mov.account_id == row.account_id) & (mov.ts < row.as_of)]
        last30 = mine[mine.ts >= row.as_of - pd.Timedelta(days=30)]
        assert row.charge_count_30d == (last30.type == "charge").sum()
        assert row.payout_sum_30d == last30.amount[last30.type == "payout"].sum()
        signed = np.where(mine.status == "failed", 0, mine.amount * mine.type.map(
            {"charge": 1, "ach_pull": 1, "received_credit": 1, "card_authorization": 0}
        ).fillna(-1))
        assert row.balance == signed.sum()


def test_onboarding_snapshots_have_no_activity(features: pd.DataFrame, sim_dir: Path) -> None:
    accounts = pd.read_parquet(sim_dir / "accounts.parquet").set_index("account_id")
    at_signup = features[features.as_of.to_numpy() ==
                         accounts.created_at.reindex(features.account_id).to_numpy()]
    assert len(at_signup) >= 100
    assert (at_signup.charge_count_90d == 0).all() and (at_signup.login_count_30d == 0).all()
    assert (at_signup.account_age_days == 0).all()


def _mutate_after(src: Path, dst: Path, cutoff: pd.Timestamp) -> None:
    """A copy of the data where everything after ``cutoff`` is changed, dropped or added."""
    shutil.copytree(src, dst)
    rng = np.random.default_rng(5)
    for name in ("movements", "logins", "changes"):
        df = pd.read_parquet(src / f"{name}.parquet")
        after = df.ts >= cutoff
        late = df[after].sample(frac=0.5, random_state=3).copy()
        if name == "movements":
            late["amount"] = late["amount"] * 3
            late["type"] = "dispute"
            late["movement_id"] = "mv_new_" + late["movement_id"]
        else:
            late["device_id"] = "dev_attacker"
            late["ip"] = "45.77.1.1"
        df = pd.concat([df[~after | (rng.random(len(df)) < 0.5)], late], ignore_index=True)
        _write(df, dst, name)
    labels = pd.read_parquet(src / "labels.parquet")
    later = labels.label_known_at >= cutoff
    labels.loc[~labels.is_fraud, "label_known_at"] = cutoff + pd.Timedelta(days=1)
    labels.loc[later, "label_known_at"] = cutoff + pd.Timedelta(hours=1)
    created = pd.read_parquet(src / "accounts.parquet").set_index("account_id").created_at
    # A label cannot be known before its account exists (the contract refuses that).
    labels["label_known_at"] = labels.label_known_at.where(
        labels.label_known_at.isna(), np.maximum(labels.label_known_at,
                                                 created.reindex(labels.account_id).to_numpy()))
    _write(labels, dst, "labels")
    # New accounts after the cutoff that copy identifiers of existing ones.
    accounts = pd.read_parquet(src / "accounts.parquet")
    sessions = pd.read_parquet(src / "signup_sessions.parquet")
    clones = accounts.sample(300, random_state=4).copy()
    clones["account_id"] = "acct_clone_" + clones["account_id"]
    clones["created_at"] = cutoff + pd.Timedelta(hours=2)
    clone_sessions = sessions.set_index("account_id").loc[
        clones.account_id.str.removeprefix("acct_clone_")].reset_index()
    clone_sessions["account_id"] = "acct_clone_" + clone_sessions["account_id"]
    clone_sessions["completed_at"] = cutoff + pd.Timedelta(hours=2)
    clone_sessions["started_at"] = cutoff + pd.Timedelta(hours=1)
    _write(pd.concat([accounts, clones]), dst, "accounts")
    _write(pd.concat([sessions, clone_sessions]), dst, "signup_sessions")


def test_events_after_t_never_change_features_as_of_t(
        tmp_path: Path, sim_dir: Path, snapshots: pd.DataFrame,
        features: pd.DataFrame) -> None:
    _mutate_after(sim_dir, tmp_path / "mutated", CUTOFF)
    again = compute_features(tmp_path / "mutated", snapshots)
    pd.testing.assert_frame_equal(features, again)


def test_a_portfolio_run_is_point_in_time_too(tmp_path: Path, sim_dir: Path) -> None:
    """One as-of time for every account takes the per-account path (test_portfolio): it
    too sees nothing at or after the as-of time."""
    accounts = pd.read_parquet(sim_dir / "accounts.parquet")
    portfolio = pd.DataFrame({"account_id": accounts.account_id[accounts.created_at < CUTOFF],
                              "as_of": CUTOFF})
    _mutate_after(sim_dir, tmp_path / "mutated", CUTOFF)
    pd.testing.assert_frame_equal(compute_features(sim_dir, portfolio),
                                  compute_features(tmp_path / "mutated", portfolio))


def test_the_point_in_time_test_can_fail(tmp_path: Path, sim_dir: Path,
                                         snapshots: pd.DataFrame,
                                         features: pd.DataFrame) -> None:
    _mutate_after(sim_dir, tmp_path / "mutated", CUTOFF - pd.Timedelta(days=30))
    again = compute_features(tmp_path / "mutated", snapshots)
    changed = (features[feature_names()] != again[feature_names()]).any()
    assert changed[["charge_count_30d", "dispute_count_30d", "shared_email",
                    "fraud_shared_device", "new_device_login_count_30d"]].all()
