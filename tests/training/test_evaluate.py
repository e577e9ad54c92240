from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskscore.training.evaluate import (
    EvalFrame,
    calibration_error,
    evaluate,
    recall_at_fpr,
    segment_recall,
    top_k_mask,
)


def _frame(label: np.ndarray) -> EvalFrame:
    n = len(label)
    return EvalFrame.from_snapshots(pd.DataFrame({
        "label": label, "loss_amount": np.where(label == 1, 10_000, 0),
        "typology": np.where(label == 1, "bust_out", None), "age_days": np.zeros(n, int)}))


def test_perfect_and_random_scores() -> None:
    rng = np.random.default_rng(0)
    label = (rng.random(20_000) < 0.02).astype(np.int8)
    perfect = evaluate(_frame(label), label + rng.random(len(label)) * 0.5, None, (0.01,),
                       (0.01, 0.03))
    assert perfect["pr_auc"] == pytest.approx(1.0)
    assert perfect["recall_at_1pct_fpr"] == pytest.approx(1.0)
    assert perfect["loss_caught_share_top_1pct"] == pytest.approx(0.5, abs=0.05)  # capacity-bound
    assert perfect["loss_caught_share_top_3pct"] == pytest.approx(1.0)
    random = evaluate(_frame(label), rng.random(len(label)), None, (0.05,), (0.03,))
    assert random["roc_auc"] == pytest.approx(0.5, abs=0.05)
    assert random["recall_at_5pct_fpr"] == pytest.approx(0.05, abs=0.03)
    assert random["precision_top_3pct"] == pytest.approx(0.02, abs=0.015)


def test_recall_at_fpr_reads_the_roc_curve() -> None:
    label = np.array([0] * 100 + [1] * 10)
    score = np.concatenate([np.arange(100) / 100, np.array([0.995] * 5 + [0.5] * 5)])
    assert recall_at_fpr(label, score, 0.0) == pytest.approx(0.5)


def test_calibration_error_zero_when_calibrated_and_large_when_not() -> None:
    rng = np.random.default_rng(1)
    prob = rng.uniform(0, 0.2, 200_000)
    label = (rng.random(len(prob)) < prob).astype(int)
    assert calibration_error(label, prob) < 0.005
    assert calibration_error(label, np.clip(prob * 3, 0, 1)) > 0.1


def test_top_k_and_segments() -> None:
    score = np.array([0.9, 0.1, 0.8, 0.2])
    assert top_k_mask(score, 0.5).tolist() == [True, False, True, False]
    label = np.array([1, 0, 0, 1] + [0] * 96)
    ev = EvalFrame(label, np.zeros(100), np.array(["a", "", "", "b"] + [""] * 96), np.array(
        [0, 0, 0, 30] + [0] * 96))
    seg = segment_recall(ev, np.array([0.9, 0.1, 0.2, 0.0] + [0.1] * 96), 0.05).set_index(
        "segment")
    assert seg.loc["typology=a", "recall"] == 1.0
    assert seg.loc["typology=b", "recall"] == 0.0
    assert seg.loc["age=later", "fraud_snapshots"] == 1
