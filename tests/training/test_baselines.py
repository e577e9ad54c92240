from __future__ import annotations

import numpy as np
import pandas as pd

from riskscore.features.catalogue import feature_names
from riskscore.training.baselines import SCORECARD, RulesScorecard, logistic_regression


def test_scorecard_rules_use_catalogue_features() -> None:
    assert {r.feature for r in SCORECARD} <= set(feature_names())


def test_scorecard_adds_points_and_ignores_absent_and_missing() -> None:
    x = pd.DataFrame({"email_disposable": [1.0, 0.0, np.nan],
                      "verification_status": [3.0, 0.0, 3.0]})
    assert RulesScorecard().score(x).tolist() == [50.0, 0.0, 25.0]


def test_logistic_regression_learns_a_linear_signal() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=4000), "b": rng.lognormal(size=4000) * 1e5})
    x.loc[::7, "b"] = np.nan
    y = (x["a"] + rng.normal(scale=0.5, size=4000) > 1.5).astype(int)
    model = logistic_regression().fit(x, y)
    prob = model.predict_proba(x)[:, 1]
    assert prob[y == 1].mean() > prob[y == 0].mean() + 0.3
