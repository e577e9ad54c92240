"""Calibration and early stopping honour the weights of sampled negatives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskscore.training.config import TrainingConfig
from riskscore.training.lgbm import calibrate, fit_booster, fit_calibration


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)}, dtype=np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(4 - 2 * x["a"].to_numpy()))).astype(int)
    return x, y


def test_weighted_calibration_equals_calibration_on_the_unsampled_rows() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(size=4000)
    label = (rng.random(4000) < 1 / (1 + np.exp(3 - margin))).astype(int)
    # Each negative stands for four: the same as fitting on every negative four times.
    weight = np.where(label == 1, 1.0, 4.0)
    repeated = np.repeat(np.arange(4000), weight.astype(int))
    weighted = fit_calibration(margin, label, weight)
    whole = fit_calibration(margin[repeated], label[repeated])
    grid = np.linspace(-3, 3, 61)
    np.testing.assert_allclose(weighted(grid), whole(grid), atol=1e-12)
    # Unweighted, the sampled rows would overstate fraud.
    assert fit_calibration(margin, label)(grid).mean() > weighted(grid).mean() + 0.01


def test_booster_stops_on_weighted_validation_and_calibrates() -> None:
    x, y = _data(6000, 1)
    xv, yv = _data(3000, 2)
    wv = np.where(yv == 1, 1.0, 4.0)
    cfg = TrainingConfig(num_boost_round=200, early_stopping_rounds=10,
                         lgbm={"learning_rate": 0.1, "num_leaves": 7, "verbosity": -1})
    booster = fit_booster(x, y, np.ones(len(y)), xv, yv, wv, cfg)
    assert 0 < booster.best_iteration < cfg.num_boost_round
    model = calibrate(booster, xv, yv, wv, {"note": "test"})
    assert model.feature_names == ["a", "b"]
    assert model.meta == {"best_iteration": booster.best_iteration, "note": "test"}
    prob = model.predict_proba(model.matrix(xv))
    # Weighted calibration keeps the weighted base rate of the validation rows.
    assert abs(np.average(prob, weights=wv) - np.average(yv, weights=wv)) < 0.01


def test_scoring_sees_the_values_training_saw() -> None:
    """Training rounds features to float32; a float64 value the service computes for the
    same account must score as its training row did, even right at a split threshold."""
    big = np.float32(2**24)  # float32 steps are 2 here: 2**24 + 1 is not representable
    x = pd.DataFrame({"a": np.repeat(np.array([big, big + 4], np.float32), 500)})
    y = np.repeat([0, 1], 500)
    cfg = TrainingConfig(num_boost_round=5, early_stopping_rounds=5,
                         lgbm={"learning_rate": 0.5, "num_leaves": 2, "min_child_samples": 1,
                               "min_data_in_bin": 1, "verbosity": -1})
    model = calibrate(fit_booster(x, y, np.ones(1000), x, y, np.ones(1000), cfg), x, y,
                      np.ones(1000), {})
    threshold = model.booster.dump_model()["tree_info"][0]["tree_structure"]["threshold"]
    # Values a float64 path may produce on either side of the split, within float32's step.
    values = np.nextafter(threshold, np.inf) + np.arange(-3, 4) * 0.75
    rows = [{"a": float(v)} for v in values]
    as_training = model.booster.predict(values.astype(np.float32).reshape(-1, 1), raw_score=True)
    np.testing.assert_array_equal(model.margin(model.matrix(rows)), as_training)
    np.testing.assert_array_equal(model.margin(model.matrix(pd.DataFrame({"a": values}))),
                                  as_training)
