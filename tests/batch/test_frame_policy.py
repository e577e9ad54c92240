"""The frame policy decides every row exactly as ``Policy.decide`` does."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from riskscore.batch.frame_policy import decide_frame, frame_reasons, model_reasons
from riskscore.features.catalogue import feature_names
from riskscore.policy import DEFAULT_POLICY_PATH, Policy, load_policy
from riskscore.policy.conditions import PROBABILITY

N = 3_000


def _edited() -> Policy:
    """The default policy plus the corners it lacks: a floor of approve, an `any`-only
    rule on the probability, a reason floor and fewer model reasons."""
    raw = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    raw["reasons"] = {"max_model_reasons": 2, "min_contribution": 0.05}
    raw["rules"] += [
        {"code": "NOTE_ONLY", "message": "Noted.", "at_least": "approve",
         "all": ["account_age_days < 10"]},
        {"code": "SCORE_OR_BALANCE", "message": "Either.", "at_least": "delay_payouts",
         "min_delay_days": 9, "any": ["probability >= 0.5", "balance > 500000"]},
    ]
    return Policy.model_validate(raw)


def _frame(policy: Policy, rng: np.random.Generator
           ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], np.ndarray]:
    """Feature columns near every rule threshold (and missing), probabilities across
    every band (and missing), and contributions of every catalogue feature."""
    columns: dict[str, np.ndarray] = {}
    for rule in policy.rules:
        for c in rule.conditions:
            if c.feature != PROBABILITY:
                choices = np.array([c.value - 1, c.value, c.value + 1, c.value * 2, 0.0,
                                    np.nan])
                columns[c.feature] = rng.choice(choices, N, p=[.1, .1, .1, .1, .4, .2])
    for name in policy.payout_delay.exposure:
        columns[name] = np.where(rng.random(N) < 0.2, np.nan,
                                 rng.normal(20_000, 60_000, N).round())
    names = feature_names()
    for name in names:
        columns.setdefault(name, np.where(rng.random(N) < 0.1, np.nan, rng.normal(0, 5, N)))
    edges = np.array([*policy.bands.values(), *policy.risk_levels.values(), 0.0, 1.0])
    probability = np.where(rng.random(N) < 0.3, rng.choice(edges, N), rng.random(N) ** 3)
    probability[rng.random(N) < 0.05] = np.nan
    contributions = rng.normal(0, 0.2, (N, len(names)))
    contributions[rng.random((N, len(names))) < 0.5] = 0.0
    return columns, probability, names, contributions


@pytest.mark.parametrize("policy", [load_policy(), _edited()], ids=["default", "edited"])
def test_every_row_is_decided_as_policy_decide_does(policy: Policy) -> None:
    rng = np.random.default_rng(3)
    columns, probability, names, contributions = _frame(policy, rng)
    explained = ~np.isnan(probability) & (rng.random(N) < 0.7)
    out = decide_frame(policy, columns.get, probability)
    rows = np.flatnonzero(explained)
    codes, reasons = frame_reasons(policy, out, dict(zip(rows.tolist(), model_reasons(
        policy, contributions[rows], names, lambda name: columns[name][rows]), strict=True)))
    fired = explained_reasons = 0
    for i in range(N):
        row = {k: float(v[i]) for k, v in columns.items()}
        p = None if np.isnan(probability[i]) else float(probability[i])
        expected = policy.decide(p, row, dict(zip(names, contributions[i].tolist(),
                                                  strict=True)) if explained[i] else None)
        fired += bool(expected.rules_fired)
        explained_reasons += any(r.contribution for r in expected.reasons)
        assert (out.action[i], out.delay_days[i], out.risk_level[i]) == (
            expected.action.value, expected.delay_days, expected.risk_level.value), i
        assert json.loads(reasons[i]) == [r.model_dump(mode="json")
                                          for r in expected.reasons], i
        assert codes[i] == [r.code for r in expected.reasons]
    assert fired > N // 10 and explained_reasons > N // 2
    assert len(set(out.action)) == 5 and len(set(out.delay_days)) > 10


def test_a_feature_absent_from_the_frame_never_fires_a_rule() -> None:
    policy = load_policy()
    probability = np.array([0.01, 0.3, np.nan])
    out = decide_frame(policy, lambda name: None, probability)
    expected = [policy.decide(None if np.isnan(p) else p, {}) for p in probability]
    assert list(out.action) == [e.action.value for e in expected]
    assert list(out.delay_days) == [e.delay_days for e in expected]
    codes, reasons = frame_reasons(policy, out, {})
    assert reasons[0] == "[]" and out.plain.tolist() == [True, False, False]
    assert codes == [[r.code for r in e.reasons] for e in expected]
