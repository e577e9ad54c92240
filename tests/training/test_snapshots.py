from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from riskscore.dataset import DataContractError, validate_dataset
from riskscore.training.config import TrainingConfig
from riskscore.training.snapshots import SAMPLED_SPLITS, Timeline, build_snapshots


@pytest.fixture(scope="module")
def built(sim_dir: Path):
    return build_snapshots(validate_dataset(sim_dir), TrainingConfig())


def test_labels_respect_when_fraud_became_known(built, sim_dir: Path) -> None:
    snaps, _ = built
    labels = pd.read_parquet(sim_dir / "labels.parquet").set_index("account_id")
    joined = snaps.join(labels[["is_fraud", "label_known_at"]], on="account_id", rsuffix="_src")
    known = joined["label_known_at_src"]
    horizon = pd.Timedelta(days=TrainingConfig().horizon_days)
    # No snapshot is taken after its fraud was already known.
    assert not (joined["is_fraud"] & (known <= joined["as_of"])).any()
    # Positive exactly when the fraud became known within the horizon after the snapshot.
    expected = joined["is_fraud"] & known.notna() & (known <= joined["as_of"] + horizon)
    assert (joined["label"].astype(bool) == expected).all()
    # Fraud never detected stays negative: invisible to training, as in life.
    assert joined.loc[joined["is_fraud"] & known.isna(), "label"].eq(0).all()


def test_split_is_out_of_time_with_no_label_leak(built) -> None:
    snaps, t = built
    by_split = snaps.groupby("split")["as_of"].agg(["min", "max"])
    assert by_split.loc["train", "max"] < t.valid_start <= by_split.loc["valid", "min"]
    assert by_split.loc["valid", "max"] < t.valid_end
    assert t.valid_end + pd.Timedelta(days=TrainingConfig().horizon_days) <= t.t_fit
    assert by_split.loc["test", "min"] >= t.t_fit
    # Labels used for fitting were all known by t_fit.
    fit = snaps[snaps["split"].isin(["train", "valid"]) & (snaps["label"] == 1)]
    assert (fit["label_known_at"] <= t.t_fit).all()
    assert set(snaps["age_days"]) <= set(TrainingConfig().snapshot_ages_days)


def test_timeline_boundaries_follow_config() -> None:
    end = pd.Timestamp("2025-12-31", tz="UTC")
    t = Timeline.from_end(end, TrainingConfig(horizon_days=30, test_days=20, valid_days=10))
    assert t.test_end == end - pd.Timedelta(days=30)
    assert t.t_fit == t.test_end - pd.Timedelta(days=20)
    assert t.valid_end == t.t_fit - pd.Timedelta(days=30)
    assert t.valid_start == t.valid_end - pd.Timedelta(days=10)


def test_negative_sampling_keeps_positives_and_test_and_restores_mass(sim_dir: Path,
                                                                       built) -> None:
    sampled, _ = built
    assert TrainingConfig().negative_rate == 0.25  # the default samples
    full, _ = build_snapshots(validate_dataset(sim_dir), TrainingConfig(negative_rate=1.0))
    assert (full["weight"] == 1.0).all()
    by_split = {name: (part, sampled[sampled["split"] == name])
                for name, part in full.groupby("split")}
    whole, kept = by_split["test"]
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), kept.reset_index(drop=True))
    for name in SAMPLED_SPLITS:
        whole, kept = by_split[name]
        key = ["account_id", "as_of"]
        # Every fraud snapshot is kept, unweighted; the kept ones are a subset of the whole.
        pd.testing.assert_frame_equal(
            whole.loc[whole["label"] == 1, key].reset_index(drop=True),
            kept.loc[kept["label"] == 1, key].reset_index(drop=True))
        assert (kept.loc[kept["label"] == 1, "weight"] == 1.0).all()
        assert kept[key].merge(whole[key]).shape[0] == len(kept)
        negatives = kept[kept["label"] == 0]
        share = len(negatives) / (whole["label"] == 0).sum()
        assert share == pytest.approx(0.25, abs=0.03)
        assert (negatives["weight"] == 4.0).all()
        assert negatives["weight"].sum() == pytest.approx((whole["label"] == 0).sum(), rel=0.1)


def test_features_are_computed_only_for_sampled_snapshots(sim_dir: Path, built,
                                                          monkeypatch) -> None:
    from riskscore.training import pipeline

    sampled, _ = built
    seen: list[int] = []
    real = pipeline.compute_features

    def counting(data_dir, snapshots, **kwargs):
        seen.append(len(snapshots))
        return real(data_dir, snapshots, **kwargs)

    monkeypatch.setattr(pipeline, "compute_features", counting)
    data = pipeline.training_data(validate_dataset(sim_dir), TrainingConfig())
    assert seen == [len(sampled)]
    pd.testing.assert_frame_equal(data.frame[["account_id", "as_of", "label", "weight"]],
                                  sampled[["account_id", "as_of", "label", "weight"]])


def test_missing_labels_table_is_named(sim_dir: Path, tmp_path: Path) -> None:
    for f in sim_dir.glob("*.parquet"):
        if f.name != "labels.parquet":
            shutil.copy(f, tmp_path / f.name)
    with pytest.raises(DataContractError, match="labels"):
        build_snapshots(validate_dataset(tmp_path), TrainingConfig())


def test_too_little_history_says_what_to_change(sim_dir: Path) -> None:
    with pytest.raises(DataContractError, match="horizon"):
        build_snapshots(validate_dataset(sim_dir), TrainingConfig(horizon_days=150))
