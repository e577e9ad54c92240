"""Baselines the model must beat on the same test set.

- ``RulesScorecard``: points for the guides' heuristics (DOMAIN.md), what a risk team
  runs before it has a model.
- ``logistic_regression``: a linear model on the same features; if it comes close to
  LightGBM the data is too linear to be a fair test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler


@dataclass(frozen=True)
class Rule:
    """``points`` when ``feature`` ``op`` ``threshold`` holds."""

    feature: str
    op: str
    threshold: float
    points: float
    why: str

    def fires(self, x: pd.DataFrame) -> np.ndarray:
        values = x[self.feature].to_numpy(float)
        with np.errstate(invalid="ignore"):
            hit = values > self.threshold if self.op == ">" else values == self.threshold
        return np.nan_to_num(hit.astype(float))


SCORECARD: tuple[Rule, ...] = (
    Rule("fraud_shared_email", ">", 0, 40, "email shared with a known-fraud account"),
    Rule("fraud_shared_phone", ">", 0, 30, "phone shared with a known-fraud account"),
    Rule("fraud_shared_bank_account", ">", 0, 40, "bank account of a known-fraud account"),
    Rule("fraud_shared_device", ">", 0, 30, "device of a known-fraud account"),
    Rule("fraud_shared_tax_id", ">", 0, 40, "tax id of a known-fraud account"),
    Rule("cluster_known_fraud", ">", 0, 20, "linked to known fraud"),
    Rule("email_disposable", ">", 0, 25, "disposable email"),
    Rule("email_domain_matches_website", "==", 0, 10, "email domain differs from website"),
    Rule("has_website", "==", 0, 5, "no online presence"),
    Rule("verification_status", "==", 3, 25, "identity verification failed"),
    Rule("licence_missing", ">", 0, 10, "licence missing where required"),
    Rule("signup_ip_type", ">", 1, 15, "datacenter or proxy IP at signup"),
    Rule("signup_ip_foreign", ">", 0, 10, "foreign IP at signup"),
    Rule("signups_same_device_1d", ">", 2, 20, "signup burst from one device"),
    Rule("signups_same_ip24_1d", ">", 5, 10, "signup burst from one network"),
    Rule("drain_count_30d", ">", 0, 25, "large inbound drained within 48 h"),
    Rule("ach_in_vs_card_30d", ">", 3, 15, "received ACH far above card volume"),
    Rule("received_debit_vs_card_30d", ">", 1, 15, "received debits far above card volume"),
    Rule("negative_balance_depth", ">", 50_000, 15, "deep negative balance"),
    Rule("intl_card_share_30d", ">", 0.5, 10, "mostly international card spend"),
    Rule("gift_card_share_30d", ">", 0.3, 10, "gift-card spend"),
    Rule("round_share_30d", ">", 0.5, 5, "round amounts"),
    Rule("max_vs_mean_amount", ">", 10, 5, "amount far above own average"),
    Rule("force_capture_count_90d", ">", 0, 15, "force captures"),
    Rule("dispute_rate_90d", ">", 0.01, 15, "dispute rate above 1%"),
    Rule("ach_unauthorised_return_count_90d", ">", 0, 20, "unauthorised ACH returns"),
    Rule("changes_from_new_device_count_30d", ">", 0, 15, "sensitive change from new device"),
    Rule("payout_after_bank_change_count_30d", ">", 0, 20, "payout soon after bank change"),
)


class RulesScorecard:
    """Sum of points of the rules whose feature is present.

    Examples
    --------
    >>> x = pd.DataFrame({"email_disposable": [1.0, 0.0]})
    >>> RulesScorecard().score(x)
    array([25.,  0.])
    """

    def __init__(self, rules: tuple[Rule, ...] = SCORECARD) -> None:
        self.rules = rules

    def score(self, x: pd.DataFrame) -> np.ndarray:
        total = np.zeros(len(x))
        for rule in self.rules:
            if rule.feature in x.columns:
                total += rule.points * rule.fires(x)
        return total


def signed_log(v: np.ndarray) -> np.ndarray:
    """Compress heavy-tailed amounts so a linear model is not dominated by them."""
    return np.sign(v) * np.log1p(np.abs(v))


def logistic_regression(seed: int = 0) -> Pipeline:
    """Median-imputed, signed-log-compressed, standardised logistic regression."""
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        FunctionTransformer(signed_log),
        StandardScaler(),
        LogisticRegression(C=0.1, class_weight="balanced", max_iter=500, random_state=seed),
    )
