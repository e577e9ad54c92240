"""Decisions for a frame of batch features, through the same Scorer as the service.

Both engines (local and Spark) call :func:`decision_frame`, so a rescore decides exactly
what ``Scorer.decide`` decides from the same features. Decision ids are derived from
what was decided on (account, as-of, model, policy) so a rerun or a resumed run yields
the same rows, and handing them to Stripe again is idempotent.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from riskscore.model import RiskModel
from riskscore.policy import load_policy
from riskscore.scoring import Scorer
from riskscore.settings import Settings, get_settings
from riskscore.store.engine import make_engine

MODEL_DIR = "model"
POLICY_FILE = "policy.yaml"

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
    """Decide on each row of ``features`` (``account_id``, ``as_of`` and feature columns)."""
    if features.empty:
        return DECISION_SCHEMA.empty_table().to_pandas()
    as_of = pd.Timestamp(features["as_of"].iloc[0])
    if (pd.to_datetime(features["as_of"], utc=True) != as_of).any():
        raise ValueError("a rescore decides on one as-of at a time")
    values = features.drop(columns=["account_id", "as_of"]).astype(np.float64)
    rows = values.to_dict("records")
    ids = features["account_id"].astype(str).tolist()
    decisions = scorer.decide(ids, rows, as_of.to_pydatetime())
    model_version, policy_version = scorer.model_version, scorer.policy.full_version
    return pd.DataFrame({
        "account_id": ids,
        "as_of": pd.Series([as_of] * len(ids), dtype="datetime64[us, UTC]"),
        "decision_id": [decision_id(a, as_of, model_version, policy_version) for a in ids],
        "score": [np.nan if d.score is None else d.score for d in decisions],
        "risk_level": [str(d.risk_level) for d in decisions],
        "action": [str(d.action) for d in decisions],
        "delay_days": np.array([d.delay_days for d in decisions], dtype=np.int32),
        "reason_codes": [[r.code for r in d.reasons] for d in decisions],
        "reasons": [json.dumps([r.model_dump(mode="json") for r in d.reasons])
                    for d in decisions],
        "model_version": model_version,
        "policy_version": policy_version,
    })


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
