"""Decisions for a frame of batch features, through the same Scorer as the service.

Both engines (local and Spark) call :func:`decision_frame`, so a rescore decides exactly
what ``Scorer.decide`` decides from the same features. Decision ids are derived from
what was decided on (account, as-of, model, policy) so a rerun or a resumed run yields
the same rows, and handing them to Stripe again is idempotent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from riskscore.contracts import Action
from riskscore.model import RiskModel
from riskscore.policy import Condition, Policy, load_policy
from riskscore.policy.conditions import OPERATORS, PROBABILITY
from riskscore.scoring import Scorer
from riskscore.settings import Settings, get_settings
from riskscore.store.engine import make_engine

MODEL_DIR = "model"
POLICY_FILE = "policy.yaml"
log = logging.getLogger(__name__)

DECISION_SCHEMA = pa.schema([
    ("account_id", pa.string()),
    ("as_of", pa.timestamp("us", tz="UTC")),
    ("decision_id", pa.string()),
    ("score", pa.float64()),
    ("risk_level", pa.string()),
    ("action", pa.string()),
    ("delay_days", pa.int32()),
    ("reason_codes", pa.list_(pa.string())),
    ("reasons", pa.string()),
    ("model_version", pa.string()),
    ("policy_version", pa.string()),
])
"""One row per account: the decision, its reasons (codes, and the full reasons as JSON)
and the model and policy versions that made it."""


def decision_id(account_id: str, as_of: pd.Timestamp, model_version: str,
                policy_version: str) -> str:
    """A stable id for one account's decision in one rescore."""
    key = f"{account_id}|{as_of.isoformat()}|{model_version}|{policy_version}"
    return f"dec_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def decision_frame(scorer: Scorer, features: pd.DataFrame) -> pd.DataFrame:
    """Decide on each row of ``features`` (``account_id``, ``as_of`` and feature columns).

    Every row's action, delay, score and risk level are ``Scorer.decide``'s. With
    ``settings.rescore_explain == "held"`` the rows that are plainly approved (probability
    below every band, no rule firing: :func:`plain_approvals`) skip the per-row policy and
    the TreeSHAP reasons, which are most of the cost; the others go through
    ``Scorer.decide`` unchanged.
    """
    if features.empty:
        return DECISION_SCHEMA.empty_table().to_pandas()
    as_of = pd.Timestamp(features["as_of"].iloc[0])
    if (pd.to_datetime(features["as_of"], utc=True) != as_of).any():
        raise ValueError("a rescore decides on one as-of at a time")
    values = features.drop(columns=["account_id", "as_of"]).astype(np.float64)
    ids = features["account_id"].astype(str).tolist()
    n = len(ids)
    score = np.full(n, np.nan)
    level = np.empty(n, dtype=object)
    action = np.full(n, Action.APPROVE.value, dtype=object)
    delay = np.zeros(n, dtype=np.int32)
    codes: list[list[str]] = [[] for _ in range(n)]
    reasons = ["[]"] * n

    plain = np.zeros(n, dtype=bool)
    if scorer.settings.rescore_explain == "held" and scorer.model is not None:
        try:
            prob = scorer.model.predict_proba(scorer.model.matrix(values))
        except Exception:  # fail closed: every row takes the Scorer's path
            log.exception("model %s could not score %d rows", scorer.model_version, n)
        else:
            plain = plain_approvals(scorer.policy, values, prob)
            score[plain] = prob[plain]
            level[plain] = [str(scorer.policy.risk_level(p)) for p in prob[plain]]
    rest = np.flatnonzero(~plain)
    if len(rest):
        rows = values.iloc[rest].to_dict("records")
        decided = scorer.decide([ids[i] for i in rest], rows, as_of.to_pydatetime())
        for i, d in zip(rest, decided, strict=True):
            score[i] = np.nan if d.score is None else d.score
            level[i], action[i], delay[i] = str(d.risk_level), str(d.action), d.delay_days
            codes[i] = [r.code for r in d.reasons]
            reasons[i] = json.dumps([r.model_dump(mode="json") for r in d.reasons])
    model_version, policy_version = scorer.model_version, scorer.policy.full_version
    return pd.DataFrame({
        "account_id": ids,
        "as_of": pd.Series([as_of] * n, dtype="datetime64[us, UTC]"),
        "decision_id": [decision_id(a, as_of, model_version, policy_version) for a in ids],
        "score": score, "risk_level": level, "action": action, "delay_days": delay,
        "reason_codes": codes, "reasons": reasons,
        "model_version": model_version, "policy_version": policy_version,
    })


def plain_approvals(policy: Policy, values: pd.DataFrame, probability: np.ndarray
                    ) -> np.ndarray:
    """Rows ``policy.decide`` approves for sure: a finite probability below every band
    above approve and no rule firing (``Rule.fires`` is true exactly when every ``all``
    condition holds and, if there are ``any`` conditions, one of them holds; a missing
    value never holds)."""
    n = len(values)
    columns = {name: values[name].to_numpy(np.float64) for name in values.columns}
    columns[PROBABILITY] = probability

    def holds(condition: Condition) -> np.ndarray:
        value = columns.get(condition.feature)
        if value is None:
            return np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            return OPERATORS[condition.op](value, condition.value) & ~np.isnan(value)

    lowest = min((t for a, t in policy.bands.items() if a != Action.APPROVE), default=np.inf)
    plain = np.isfinite(probability) & (probability < lowest)
    for rule in policy.rules:
        every = np.logical_and.reduce([holds(c) for c in rule.all]) if rule.all else \
            np.ones(n, dtype=bool)
        some = np.logical_or.reduce([holds(c) for c in rule.any]) if rule.any else \
            np.ones(n, dtype=bool)
        plain &= ~(every & some)
    return plain


def save_job_bundle(scorer: Scorer, directory: Path) -> Path:
    """Freeze what decides (model bundle + policy file) into ``directory``: a resumed run
    and every Spark executor then use exactly the model and policy the run started with."""
    if scorer.model is None:
        raise ValueError("no model to rescore with")
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / (MODEL_DIR + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    scorer.model.save(partial)
    policy = directory / (POLICY_FILE + ".partial")
    policy.write_bytes(Path(scorer.settings.policy_path).read_bytes())
    shutil.rmtree(directory / MODEL_DIR, ignore_errors=True)
    partial.replace(directory / MODEL_DIR)
    policy.replace(directory / POLICY_FILE)
    return directory


def bundle_scorer(directory: Path | str, settings: Settings | None = None) -> Scorer:
    """A Scorer over a job bundle written by :func:`save_job_bundle` (no store writes)."""
    settings = settings or get_settings()
    directory = Path(directory)
    model = RiskModel.load(directory / MODEL_DIR)
    return Scorer(make_engine("sqlite://"), model, load_policy(directory / POLICY_FILE),
                  settings=settings)
