"""LightGBM fitted with early stopping on the validation period, then calibrated there."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from riskscore.model import Calibration, RiskModel
from riskscore.settings import get_settings
from riskscore.training.config import TrainingConfig


def imbalance_weight(label: np.ndarray, weight: np.ndarray) -> float:
    """``scale_pos_weight``: the square root of the (weighted) negative/positive ratio.

    Full re-weighting to balance over-trusts the few positives; none lets the trees ignore
    them. The square root is the usual middle ground; calibration fixes probabilities.
    """
    pos = weight[label == 1].sum()
    neg = weight[label == 0].sum()
    return float(np.sqrt(neg / max(pos, 1.0)))


def fit_booster(x_train: pd.DataFrame, y_train: np.ndarray, w_train: np.ndarray,
                x_valid: pd.DataFrame, y_valid: np.ndarray, cfg: TrainingConfig,
                params: dict | None = None) -> lgb.Booster:
    """Gradient-boosted trees, stopped when validation PR-AUC stops improving."""
    full = {"objective": "binary", "metric": "average_precision", "verbosity": -1,
            "num_threads": get_settings().model_threads, "seed": cfg.seed, "deterministic": True,
            "force_row_wise": True, "scale_pos_weight": imbalance_weight(y_train, w_train),
            **cfg.lgbm, **(params or {})}
    train = lgb.Dataset(x_train, y_train, weight=w_train, free_raw_data=True)
    valid = lgb.Dataset(x_valid, y_valid, reference=train)
    return lgb.train(full, train, num_boost_round=cfg.num_boost_round, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)])


def fit_calibration(margin: np.ndarray, label: np.ndarray) -> Calibration:
    """Isotonic map from margin to probability, fitted on the validation period."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(margin, label)
    return Calibration(np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float))


def train_model(x_train: pd.DataFrame, y_train: np.ndarray, w_train: np.ndarray,
                x_valid: pd.DataFrame, y_valid: np.ndarray, cfg: TrainingConfig,
                params: dict | None = None) -> RiskModel:
    """A calibrated ``RiskModel`` over the columns of ``x_train``."""
    booster = fit_booster(x_train, y_train, w_train, x_valid, y_valid, cfg, params)
    valid_margin = booster.predict(x_valid.to_numpy(np.float64), raw_score=True)
    meta = {"best_iteration": booster.best_iteration,
            "scale_pos_weight": imbalance_weight(y_train, w_train)}
    return RiskModel(booster, fit_calibration(valid_margin, y_valid), list(x_train.columns), meta)
