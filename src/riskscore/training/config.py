"""Training configuration: one typed object, its defaults documented in one place."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TrainingConfig(BaseModel):
    """How snapshots are cut, split and fitted.

    Time runs left to right; the model is fitted as if on ``t_fit`` and may use only
    labels known by then, and it is tested on snapshots after ``t_fit`` whose labels
    had ``horizon_days`` to arrive before the data ends::

        | train            | valid        |<- horizon ->| test        |<- horizon ->|
                                                      t_fit                     data end
    """

    horizon_days: int = Field(60, ge=7, description="Fraud must become known within this "
                              "many days after a snapshot to count as positive.")
    snapshot_ages_days: tuple[int, ...] = Field(
        (0, 7, 30, 90), description="Account ages at which snapshots are taken (0 = onboarding).")
    valid_days: int = Field(45, ge=7, description="Length of the validation period.")
    test_days: int = Field(60, ge=7, description="Length of the out-of-time test period.")
    negative_rate: float = Field(1.0, gt=0, le=1, description="Share of non-fraud train "
                                 "snapshots kept (weighted back up); valid and test are whole.")
    seed: int = 0
    review_capacities: tuple[float, ...] = (0.01, 0.03)
    fpr_points: tuple[float, ...] = (0.01, 0.05)
    lgbm: dict[str, float | int | str] = Field(default_factory=lambda: {
        "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 50,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
        "lambda_l2": 1.0, "max_bin": 127,
    }, description="LightGBM parameters (objective, imbalance and threads are set by training).")
    num_boost_round: int = 2000
    early_stopping_rounds: int = 100
    min_positives: int = Field(20, description="Fewest positives each split needs to be usable.")
