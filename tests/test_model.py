from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from riskscore.model import Calibration, RiskModel


@pytest.fixture(scope="module")
def model() -> RiskModel:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000)})
    y = (x["a"] + rng.normal(scale=0.5, size=3000) > 1).astype(int)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_threads": 1},
                        lgb.Dataset(x, y), num_boost_round=20)
    return RiskModel(booster, Calibration(np.array([-3.0, 0.0, 3.0]), np.array([0.0, 0.2, 1.0])),
                     ["a", "b"], {"version": "test/v1"})


def test_bundle_round_trip_predicts_the_same(model: RiskModel, tmp_path: Path) -> None:
    x = model.matrix([{"a": 1.5, "b": 0.0}, {"a": -1.0}])
    loaded = RiskModel.load(model.save(tmp_path / "bundle"))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.feature_names == ["a", "b"] and loaded.version == "test/v1"


def test_matrix_from_dicts_and_frames_agree(model: RiskModel) -> None:
    rows = [{"b": 2.0, "a": 1.0, "unused": 5.0}, {"a": None}]
    frame = pd.DataFrame({"b": [2.0, np.nan], "a": [1.0, np.nan]})
    np.testing.assert_array_equal(model.matrix(rows), model.matrix(frame))
    assert np.isnan(model.matrix(rows)[1]).all()


def test_contributions_sum_to_margin(model: RiskModel) -> None:
    x = model.matrix([{"a": 2.0, "b": -1.0}])
    np.testing.assert_allclose(model.contributions(x).sum(axis=1), model.margin(x), rtol=1e-6)


def test_calibration_interpolates_and_clips() -> None:
    cal = Calibration(np.array([0.0, 1.0]), np.array([0.1, 0.3]))
    np.testing.assert_allclose(cal(np.array([-5.0, 0.5, 9.0])), [0.1, 0.2, 0.3])


def test_loading_a_non_bundle_names_the_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="booster.txt"):
        RiskModel.load(tmp_path)
