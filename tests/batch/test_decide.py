"""A rescore decides exactly what the Scorer decides from the same features."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.batch.decide import (
    bundle_scorer,
    decision_frame,
    plain_approvals,
    save_job_bundle,
)
from riskscore.dataset import validate_dataset
from riskscore.features.batch import compute_features, portfolio_snapshots
from riskscore.scoring import Scorer

pytestmark = pytest.mark.xdist_group("trained")


@pytest.fixture(scope="module")
def sample(trained, sim_dir: Path) -> pd.DataFrame:
    snaps = portfolio_snapshots(validate_dataset(sim_dir), pd.Timestamp("2025-09-01", tz="UTC"))
    return compute_features(sim_dir, snaps.sample(400, random_state=1))


def _expected(scorer: Scorer, sample: pd.DataFrame):
    rows = sample.drop(columns=["account_id", "as_of"]).to_dict("records")
    return scorer.decide(sample["account_id"].tolist(), rows,
                         sample["as_of"].iloc[0].to_pydatetime())


def _decide_both_ways(sample: pd.DataFrame, explain: str):
    """The rescore's decision frame and ``Scorer.decide``'s decisions, with their actions,
    delays, risk levels and scores checked equal."""
    scorer = Scorer.from_settings()
    scorer.settings = scorer.settings.model_copy(update={"rescore_explain": explain})
    frame = decision_frame(scorer, sample)
    expected = _expected(scorer, sample)
    assert frame["action"].tolist() == [str(d.action) for d in expected]
    assert frame["delay_days"].tolist() == [d.delay_days for d in expected]
    assert frame["risk_level"].tolist() == [str(d.risk_level) for d in expected]
    np.testing.assert_array_equal(frame["score"], [d.score for d in expected])
    return scorer, frame, expected


def test_explaining_all_equals_the_scorer(sample: pd.DataFrame) -> None:
    scorer, frame, expected = _decide_both_ways(sample, "all")
    assert frame["reason_codes"].tolist() == [[r.code for r in d.reasons] for d in expected]
    assert frame["reasons"].map(json.loads).tolist() == \
        [[r.model_dump(mode="json") for r in d.reasons] for d in expected]
    model = scorer.model
    np.testing.assert_allclose(frame["score"], model.predict_proba(model.matrix(sample)))
    assert set(frame["model_version"]) == {scorer.model_version}
    assert set(frame["policy_version"]) == {scorer.policy.full_version}
    assert (frame["action"] != "approve").any(), "the sample should hold some risk"


def test_explaining_held_decides_the_same_and_explains_holds(sample: pd.DataFrame) -> None:
    scorer, frame, expected = _decide_both_ways(sample, "held")
    values = sample.drop(columns=["account_id", "as_of"]).astype(float)
    plain = plain_approvals(scorer.policy, values,
                            scorer.model.predict_proba(scorer.model.matrix(values)))
    assert 0 < plain.sum() < len(sample)
    assert (frame.loc[plain, "action"] == "approve").all()
    assert frame.loc[plain, "reason_codes"].map(len).eq(0).all()
    explained = [[r.model_dump(mode="json") for r in d.reasons]
                 for d, p in zip(expected, plain, strict=True) if not p]
    assert frame.loc[~plain, "reasons"].map(json.loads).tolist() == explained
    assert frame.loc[~plain, "reason_codes"].tolist() == \
        [[r["code"] for r in reasons] for reasons in explained]


def test_threads_do_not_change_decisions(sample: pd.DataFrame) -> None:
    scorer = Scorer.from_settings()
    one = scorer.settings.model_copy(update={"model_threads": 1, "rescore_explain": "all"})
    two = one.model_copy(update={"model_threads": 2})
    scorer.settings = one
    first = decision_frame(scorer, sample)
    scorer.settings = two
    pd.testing.assert_frame_equal(decision_frame(scorer, sample), first)


def test_plain_approvals_match_rule_semantics(sample: pd.DataFrame) -> None:
    policy = Scorer.from_settings().policy
    values = sample.drop(columns=["account_id", "as_of"]).astype(float)
    low = np.zeros(len(values))
    plain = plain_approvals(policy, values, low)
    for i, row in enumerate(values.to_dict("records")):
        outcome = policy.decide(0.0, row)
        assert plain[i] == (not outcome.rules_fired), row
    assert not plain_approvals(policy, values.head(3), np.full(3, np.nan)).any()
    assert not plain_approvals(policy, values.head(3), np.ones(3)).any()


def test_decision_ids_are_stable_and_distinct(sample: pd.DataFrame) -> None:
    scorer = Scorer.from_settings()
    first, again = decision_frame(scorer, sample), decision_frame(scorer, sample)
    assert first["decision_id"].tolist() == again["decision_id"].tolist()
    assert first["decision_id"].is_unique


def test_deciding_leaves_the_garbage_collector_as_it_was(sample: pd.DataFrame) -> None:
    scorer = Scorer.from_settings()
    decision_frame(scorer, sample.head(20))
    assert gc.isenabled()
    gc.disable()
    try:
        decision_frame(scorer, sample.head(20))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_job_bundle_decides_like_the_champion(sample: pd.DataFrame, tmp_path: Path) -> None:
    scorer = Scorer.from_settings()
    bundle = bundle_scorer(save_job_bundle(scorer, tmp_path / "bundle"))
    assert bundle.model_version == scorer.model_version
    assert bundle.policy.full_version == scorer.policy.full_version
    pd.testing.assert_frame_equal(decision_frame(bundle, sample), decision_frame(scorer, sample))


def test_model_failure_fails_closed(sample: pd.DataFrame, monkeypatch) -> None:
    scorer = Scorer.from_settings()
    monkeypatch.setattr(scorer.model, "predict_proba", lambda *args: 1 / 0)
    frame = decision_frame(scorer, sample.head(5))
    assert set(frame["action"]) == {"manual_review"}
    assert frame["score"].isna().all()
    assert all("MODEL_UNAVAILABLE" in codes for codes in frame["reason_codes"])


def test_explanation_failure_fails_the_explained_rows_closed(sample: pd.DataFrame,
                                                              monkeypatch) -> None:
    scorer = Scorer.from_settings()
    before = decision_frame(scorer, sample)
    monkeypatch.setattr(scorer.model, "contributions", lambda *args: 1 / 0)
    after = decision_frame(scorer, sample)
    plain = before["reason_codes"].map(len).eq(0)
    pd.testing.assert_frame_equal(after[plain], before[plain])
    assert after.loc[~plain, "score"].isna().all()
    assert after.loc[~plain, "reason_codes"].map(lambda c: c[0]).eq("MODEL_UNAVAILABLE").all()
    assert (after.loc[~plain, "action"] != "approve").all()
