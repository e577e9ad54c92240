"""LightGBM fitted with early stopping on the validation period, then calibrated there."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from riskscore.model import INPUT_DTYPE, Calibration, RiskModel
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
                x_valid: pd.DataFrame, y_valid: np.ndarray, w_valid: np.ndarray,
                cfg: TrainingConfig, params: dict | None = None) -> lgb.Booster:
    """Gradient-boosted trees, stopped when (weighted) validation PR-AUC stops improving.

    Inputs go to LightGBM as ``INPUT_DTYPE`` (float32) matrices, as every scoring path
    gives them (its histograms bin them anyway, and the training copy is half the size of
    a float64 one)."""
    full = {"objective": "binary", "metric": "average_precision", "verbosity": -1,
            "num_threads": get_settings().model_threads, "seed": cfg.seed, "deterministic": True,
            "force_row_wise": True,  # deterministic needs a fixed histogram layout
            "scale_pos_weight": imbalance_weight(y_train, w_train), **cfg.lgbm, **(params or {})}
    names = list(x_train.columns)
    train = lgb.Dataset(x_train.to_numpy(INPUT_DTYPE), y_train, weight=w_train,
                        feature_name=names, free_raw_data=True)
    valid = lgb.Dataset(x_valid[names].to_numpy(INPUT_DTYPE), y_valid, weight=w_valid,
                        reference=train)
    return lgb.train(full, train, num_boost_round=cfg.num_boost_round, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)])


def fit_calibration(margin: np.ndarray, label: np.ndarray,
                    weight: np.ndarray | None = None) -> Calibration:
    """Isotonic map from margin to probability, fitted on the validation period (weighted
    when its negatives were sampled, so probabilities keep the true base rate)."""
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(margin, label, sample_weight=weight)
    return Calibration(np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float))


def calibrate(booster: lgb.Booster, x_valid: pd.DataFrame, y_valid: np.ndarray,
              w_valid: np.ndarray, meta: dict) -> RiskModel:
    """A ``RiskModel``: ``booster`` with its calibration on the validation period."""
    names = list(x_valid.columns)
    margin = booster.predict(x_valid.to_numpy(INPUT_DTYPE), raw_score=True,
                             num_threads=get_settings().model_threads)
    return RiskModel(booster, fit_calibration(margin, y_valid, w_valid), names,
                     {"best_iteration": booster.best_iteration, **meta})
