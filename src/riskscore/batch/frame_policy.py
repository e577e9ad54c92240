"""The decision policy over a whole frame of accounts at once (NumPy), for batch rescoring.

:func:`decide_frame` gives every row exactly what ``Policy.decide`` gives it (action,
payout delay, risk level, reasons, in the same order and with the same numbers), with
one array operation per band, rule condition and exposure term instead of a Python call
per account. Only the reasons of accounts that have any are assembled row by row.
``tests/batch/test_frame_policy.py`` compares the two on every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from riskscore.contracts import Action, Reason, RiskLevel
from riskscore.policy import Condition, Policy, reason_table
from riskscore.policy.conditions import OPERATORS, PROBABILITY

Column = Callable[[str], "np.ndarray | None"]
"""A feature's float64 values for every row (NaN: missing), ``None`` when the frame lacks
it."""

_ACTIONS: tuple[Action, ...] = tuple(Action)
_LEVELS: tuple[RiskLevel, ...] = tuple(RiskLevel)


@dataclass(frozen=True)
class FrameOutcome:
    """One entry per row: the action, payout delay and risk level ``Policy.decide``
    returns, with what its reasons are made of (band severity and the rules fired)."""

    probability: np.ndarray
    action: np.ndarray
    delay_days: np.ndarray
    risk_level: np.ndarray
    band: np.ndarray
    fired: np.ndarray

    @property
    def plain(self) -> np.ndarray:
        """Rows approved without a reason: scored, below every band, no rule fired."""
        return ~np.isnan(self.probability) & (self.band == Action.APPROVE.severity) & \
            ~self.fired.any(axis=1)


def _holds(condition: Condition, column: Column, n: int) -> np.ndarray:
    """``Condition.holds`` is true (a missing value never holds)."""
    value = column(condition.feature)
    if value is None:
        return np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        return OPERATORS[condition.op](value, condition.value) & ~np.isnan(value)


def rules_fired(policy: Policy, column: Column, n: int) -> np.ndarray:
    """``(rows, rules)``: whether ``Rule.fires`` is true (every ``all`` condition holds and,
    when there are ``any`` conditions, one of them does; a missing value never holds)."""
    fired = np.zeros((n, len(policy.rules)), dtype=bool)
    for j, rule in enumerate(policy.rules):
        every = np.ones(n, dtype=bool)
        for condition in rule.all:
            every &= _holds(condition, column, n)
        if rule.any:
            some = np.zeros(n, dtype=bool)
            for condition in rule.any:
                some |= _holds(condition, column, n)
            every &= some
        fired[:, j] = every
    return fired


def band_severity(policy: Policy, probability: np.ndarray) -> np.ndarray:
    """Severity of ``Policy.band_action`` for each probability (NaN: approve)."""
    out = np.zeros(len(probability), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        for action, threshold in policy.bands.items():
            out = np.maximum(out, np.where(probability >= threshold, action.severity, 0))
    return out


def risk_levels(policy: Policy, probability: np.ndarray) -> np.ndarray:
    """``Policy.risk_level`` of each probability, as strings."""
    index = np.zeros(len(probability), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        for level, threshold in policy.risk_levels.items():
            index = np.maximum(index, np.where(probability >= threshold,
                                               _LEVELS.index(level), 0))
    return np.array([lvl.value for lvl in _LEVELS], dtype=object)[index]


def exposure(policy: Policy, column: Column, n: int) -> np.ndarray:
    """``PayoutDelay.exposure_of`` of each row (the same sum, term by term)."""
    total = np.zeros(n)
    for name, weight in policy.payout_delay.exposure.items():
        value = column(name)
        if value is not None:
            total = total + np.where(np.isnan(value), 0.0, weight * np.maximum(value, 0.0))
    return total


def delay_days(policy: Policy, probability: np.ndarray, money: np.ndarray) -> np.ndarray:
    """``PayoutDelay.delay_days`` of each row (same float operations, so the same days)."""
    delay = policy.payout_delay
    loss = np.maximum(probability, 0.0) * np.maximum(money, 0.0)
    span = delay.max_days - delay.min_days
    return np.minimum(delay.max_days, delay.min_days + np.ceil(span * loss / (
        loss + delay.half_loss))).astype(np.int32)


def model_reasons(policy: Policy, contributions: np.ndarray, features: Sequence[str],
                  column: Column) -> list[list[dict[str, object]]]:
    """``top_reasons`` of each row of ``contributions`` (rows x ``features``), as the
    reasons' JSON dicts: per code, the positive contributions of the features whose value
    its sentence describes, summed in feature order; the strongest ``max_model_reasons``
    above ``min_contribution``, ties by code."""
    n = len(contributions)
    table = reason_table()
    codes = sorted({e.code for name in features if (e := table.by_feature.get(name))})
    totals = np.zeros((n, len(codes)))
    where = {code: i for i, code in enumerate(codes)}
    for j, name in enumerate(features):
        entry = table.by_feature.get(name)
        if entry is None:
            continue
        c = contributions[:, j]
        take = c > 0
        value = column(name)
        if entry.neutral is not None and value is not None:
            with np.errstate(invalid="ignore"):
                side = value > entry.neutral if entry.risky == "high" else \
                    value < entry.neutral
            take &= side | np.isnan(value)
        k = where[entry.code]
        totals[:, k] = totals[:, k] + np.where(take, c, 0.0)
    keep = policy.reasons.max_model_reasons
    order = np.argsort(-totals, axis=1, kind="stable")[:, :keep]
    messages = {e.code: e.message for e in table.entries}
    out: list[list[dict[str, object]]] = []
    floor = max(policy.reasons.min_contribution, 0.0)
    for i in range(n):
        row = []
        for k in order[i]:
            total = float(totals[i, k])
            if total > floor:
                row.append({"code": codes[k], "message": messages[codes[k]],
                            "source": "model", "contribution": round(total, 6)})
        out.append(row)
    return out


def decide_frame(policy: Policy, column: Column, probability: np.ndarray) -> FrameOutcome:
    """``Policy.decide``'s action, delay and risk level for every row at once
    (``probability`` NaN where the model could not score: fail closed)."""
    n = len(probability)
    scored = ~np.isnan(probability)
    probability_column: Column = lambda name: probability if name == PROBABILITY else \
        column(name)  # noqa: E731
    fired = rules_fired(policy, probability_column, n)
    band = band_severity(policy, probability)
    band[~scored] = policy.fail_closed.action.severity
    rule_floor = np.array([r.at_least.severity for r in policy.rules], dtype=np.int8)
    action = np.maximum(band, (fired * rule_floor).max(axis=1, initial=0)).astype(np.int8)

    level = risk_levels(policy, probability)
    level[~scored] = policy.fail_closed.risk_level.value
    days = np.where(scored, delay_days(policy, np.where(scored, probability, 0.0),
                                       exposure(policy, column, n)),
                    policy.payout_delay.max_days)
    floors = np.array([r.min_delay_days or 0 for r in policy.rules], dtype=np.int32)
    days = np.minimum(np.maximum(days, (fired * floors).max(axis=1, initial=0)),
                      policy.payout_delay.max_days)
    days = np.where(action == Action.APPROVE.severity, 0, days).astype(np.int32)
    names = np.array([a.value for a in _ACTIONS], dtype=object)
    return FrameOutcome(probability, names[action], days, level, band, fired)


def frame_reasons(policy: Policy, outcome: FrameOutcome,
                  model: Mapping[int, list[dict[str, object]]]
                  ) -> tuple[list[list[str]], list[str]]:
    """Each row's reason codes and reasons (the JSON of ``[Reason.model_dump(mode="json"),
    ...]``) as ``Policy.decide`` orders them: the score band's (or the fail-closed one),
    the fired rules' by severity, then the row's ``model`` reasons not already given
    (rows absent from ``model`` were decided without contributions)."""
    n, probability, band, fired = len(outcome.band), outcome.probability, outcome.band, \
        outcome.fired
    scored = ~np.isnan(probability)
    rule_reasons = [Reason(code=r.code, message=r.message, source="rule")
                    .model_dump(mode="json") for r in policy.rules]
    by_severity = sorted(range(len(policy.rules)),
                         key=lambda j: policy.rules[j].at_least.severity, reverse=True)
    codes: list[list[str]] = [[] for _ in range(n)]
    reasons = ["[]"] * n
    talking = ~outcome.plain
    talking[list(model)] = True
    for i in np.flatnonzero(talking).tolist():
        row: list[dict[str, object]] = []
        if not scored[i]:
            row.append(policy.unavailable_reason().model_dump(mode="json"))
        elif band[i] > Action.APPROVE.severity:
            row.append(policy.score_reason(float(probability[i]), _ACTIONS[band[i]])
                       .model_dump(mode="json"))
        row += [rule_reasons[j] for j in by_severity if fired[i, j]]
        taken = {r["code"] for r in row}
        row += [r for r in model.get(i, ()) if r["code"] not in taken]
        codes[i] = [str(r["code"]) for r in row]
        reasons[i] = json.dumps(row)
    return codes, reasons
