"""The decision policy: calibrated probability + features -> action, payout delay, reasons.

A policy is data (``default.yaml``) validated into these models; :meth:`Policy.decide` is
a pure function of the model's probability, the account's features and the model's
feature contributions, so every scoring path (API, batch, webhooks) decides alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from riskscore.contracts import Action, Decision, Reason, ReasonCode, RiskLevel
from riskscore.features.catalogue import feature_names
from riskscore.policy.conditions import PROBABILITY, Condition
from riskscore.policy.reasons import top_reasons

ConditionField = Annotated[Condition, BeforeValidator(Condition.parse),
                           PlainSerializer(str, return_type=str)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
MAX_DELAY_DAYS = 31
"""Longest payout delay a policy may set (a processor's payout-schedule limit)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """A hard rule: when its conditions hold, the action is at least ``at_least``."""

    code: ReasonCode
    message: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    at_least: Action
    min_delay_days: Annotated[int, Field(ge=0, le=MAX_DELAY_DAYS)] | None = None
    all: list[ConditionField] = Field(default_factory=list)
    any: list[ConditionField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sane(self) -> Rule:
        if not self.all and not self.any:
            raise ValueError(f"rule {self.code}: give at least one condition under `all` or "
                             f"`any`")
        if self.min_delay_days is not None and self.at_least == Action.APPROVE:
            raise ValueError(f"rule {self.code}: min_delay_days needs at_least delay_payouts "
                             f"or above (approve holds no payouts)")
        return self

    @property
    def conditions(self) -> list[Condition]:
        return [*self.all, *self.any]

    def fires(self, values: Mapping[str, float | None]) -> bool | None:
        """True when every ``all`` condition and (if any are given) one ``any`` condition
        holds; ``None`` when that cannot be decided because feature values are missing."""
        results = [c.holds(values) for c in self.all]
        if False in results:
            return False
        if self.any:
            alternatives = [c.holds(values) for c in self.any]
            if True not in alternatives:
                return None if None in alternatives else False
        return None if None in results else True

    def describe(self) -> str:
        parts = []
        if self.all:
            parts.append(" and ".join(map(str, self.all)))
        if self.any:
            parts.append("any of (" + ", ".join(map(str, self.any)) + ")")
        return " and ".join(parts)


class PayoutDelay(_Strict):
    """Expected-loss payout delay: see ``delay_days``."""

    min_days: Annotated[int, Field(ge=0, le=MAX_DELAY_DAYS)]
    max_days: Annotated[int, Field(ge=1, le=MAX_DELAY_DAYS)]
    half_loss: Annotated[float, Field(gt=0)]
    exposure: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> PayoutDelay:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) is above max_days "
                             f"({self.max_days})")
        return self

    def exposure_of(self, features: Mapping[str, float | None]) -> float:
        """Money at stake (minor units): weighted sum of the exposure features, each counted
        from zero up (a negative balance adds nothing here; its depth is its own term).
        Missing values count as zero."""
        total = 0.0
        for name, weight in self.exposure.items():
            value = features.get(name)
            if value is not None and not math.isnan(value):
                total += weight * max(float(value), 0.0)
        return total

    def delay_days(self, probability: float, exposure: float) -> int:
        """``min + ceil((max - min) * EL / (EL + half_loss))`` with ``EL = p * exposure``:
        monotone in probability and exposure, ``min`` at no expected loss, half-way at
        ``half_loss`` and approaching ``max`` as the expected loss grows."""
        loss = max(probability, 0.0) * max(exposure, 0.0)
        span = self.max_days - self.min_days
        return min(self.max_days, self.min_days + math.ceil(span * loss / (loss + self.half_loss)))


class FailClosed(_Strict):
    """What to do when the model cannot score."""

    action: Action = Action.MANUAL_REVIEW
    risk_level: RiskLevel = RiskLevel.HIGH

    @field_validator("action")
    @classmethod
    def _never_lenient(cls, action: Action) -> Action:
        if action < Action.MANUAL_REVIEW:
            raise ValueError(f"must be manual_review or stricter, not {action.value}")
        return action


class ReasonSettings(_Strict):
    max_model_reasons: Annotated[int, Field(ge=0, le=20)] = 3
    min_contribution: Annotated[float, Field(ge=0)] = 0.0


@dataclass(frozen=True)
class PolicyOutcome:
    """What the policy decided and why."""

    action: Action
    delay_days: int
    risk_level: RiskLevel
    reasons: list[Reason]
    rules_fired: list[str]
    rules_not_evaluated: list[str] = field(default_factory=list)

    def decision(self, *, account_id: str, score: float | None, model_version: str | None,
                 policy_version: str, scored_at: datetime,
                 shadow: dict[str, Any] | None = None) -> Decision:
        """The API's :class:`Decision` carrying this outcome."""
        return Decision(account_id=account_id, score=score, risk_level=self.risk_level,
                        action=self.action, delay_days=self.delay_days, reasons=self.reasons,
                        model_version=model_version, policy_version=policy_version,
                        scored_at=scored_at, shadow=shadow)


class Policy(_Strict):
    """A validated decision policy (see ``default.yaml`` for the meaning of each part)."""

    version: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                              pattern=r"^[A-Za-z0-9._\-]+$")]
    risk_levels: dict[RiskLevel, Probability]
    bands: dict[Action, Probability]
    payout_delay: PayoutDelay
    rules: list[Rule] = Field(default_factory=list)
    fail_closed: FailClosed = Field(default_factory=FailClosed)
    reasons: ReasonSettings = Field(default_factory=ReasonSettings)
    content_hash: str = Field("", description="Short hash of the file's bytes (set by the "
                                              "loader).")

    @field_validator("risk_levels")
    @classmethod
    def _levels_ordered(cls, levels: dict[RiskLevel, float]) -> dict[RiskLevel, float]:
        if RiskLevel.LOW in levels:
            raise ValueError("`low` is everything below `medium`; list only "
                             "medium, high and critical")
        missing = [lvl.value for lvl in RiskLevel if lvl != RiskLevel.LOW and lvl not in levels]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        _increasing([(lvl.value, levels[lvl]) for lvl in list(RiskLevel)[1:]])
        return levels

    @field_validator("bands")
    @classmethod
    def _bands_ordered(cls, bands: dict[Action, float]) -> dict[Action, float]:
        if bands.get(Action.APPROVE) != 0.0:
            raise ValueError("`approve: 0.0` is required, so every probability has an "
                             "action")
        _increasing([(a.value, bands[a]) for a in Action if a in bands])
        return bands

    @model_validator(mode="after")
    def _known_features(self, info: ValidationInfo) -> Policy:
        known = set((info.context or {}).get("features") or feature_names())
        problems = [f"rule {rule.code}: unknown feature {c.feature!r}" for rule in self.rules
                    for c in rule.conditions if c.feature not in known and
                    c.feature != PROBABILITY]
        problems += [f"payout_delay.exposure: unknown feature {name!r}"
                     for name in self.payout_delay.exposure if name not in known]
        problems += [f"rule {r.code}: min_delay_days ({r.min_delay_days}) is above "
                     f"payout_delay.max_days ({self.payout_delay.max_days})"
                     for r in self.rules if (r.min_delay_days or 0) > self.payout_delay.max_days]
        codes = [r.code for r in self.rules]
        problems += [f"rule code {c} is used twice" for c in sorted({c for c in codes
                                                                      if codes.count(c) > 1})]
        if problems:
            raise ValueError("; ".join(problems) + " (feature names: docs/features.md; "
                         f"`{PROBABILITY}` is the model's probability)")
        return self

    @property
    def full_version(self) -> str:
        """Declared version plus content hash: two different files never share it."""
        return f"{self.version}+{self.content_hash}" if self.content_hash else self.version

    def risk_level(self, probability: float) -> RiskLevel:
        reached = [lvl for lvl, threshold in self.risk_levels.items() if probability >= threshold]
        return max(reached, key=list(RiskLevel).index, default=RiskLevel.LOW)

    def band_action(self, probability: float) -> Action:
        return max((a for a, threshold in self.bands.items() if probability >= threshold),
                   default=Action.APPROVE)

    @staticmethod
    def unavailable_reason() -> Reason:
        """The reason of a fail-closed decision (the model could not score)."""
        return Reason(code="MODEL_UNAVAILABLE", source="system", message=(
            "The risk model could not score this account, so it is held for manual review."))

    def score_reason(self, probability: float, band: Action) -> Reason:
        """The reason of a probability in ``band`` (an action above approve)."""
        return Reason(code="RISK_SCORE", source="model", message=(
            f"The estimated fraud risk ({probability:.0%}) is in the "
            f"{band.value.replace('_', ' ')} band (from {self.bands[band]:.0%})."))

    def decide(self, probability: float | None, features: Mapping[str, float | None],
               contributions: Mapping[str, float] | None = None) -> PolicyOutcome:
        """Action, payout delay, risk level and reasons for one account.

        ``probability`` is the calibrated fraud probability, ``None`` when the model could
        not score: the decision then fails closed (``fail_closed``), never approve. Rules
        whose features are missing are not evaluated (listed in ``rules_not_evaluated``).
        """
        if probability is not None and not (0.0 <= probability <= 1.0):
            raise ValueError(f"probability must be within [0, 1], got {probability!r}")
        values: dict[str, float | None] = dict(features)
        values[PROBABILITY] = probability
        reasons: list[Reason] = []
        if probability is None:
            action, level = self.fail_closed.action, self.fail_closed.risk_level
            reasons.append(self.unavailable_reason())
        else:
            action, level = self.band_action(probability), self.risk_level(probability)
            if action > Action.APPROVE:
                reasons.append(self.score_reason(probability, action))

        fired: list[Rule] = []
        unevaluated: list[str] = []
        for rule in self.rules:
            result = rule.fires(values)
            if result is None:
                unevaluated.append(rule.code)
            elif result:
                fired.append(rule)
        for rule in sorted(fired, key=lambda r: r.at_least.severity, reverse=True):
            action = max(action, rule.at_least)
            reasons.append(Reason(code=rule.code, message=rule.message, source="rule"))

        if probability is not None and contributions and self.reasons.max_model_reasons:
            taken = {r.code for r in reasons}
            model_reasons = top_reasons(contributions, values, self.reasons.max_model_reasons,
                                        min_contribution=self.reasons.min_contribution)
            reasons += [r for r in model_reasons if r.code not in taken]
        return PolicyOutcome(action=action, delay_days=self._delay(action, probability, values,
                                                                   fired),
                             risk_level=level, reasons=reasons,
                             rules_fired=[r.code for r in fired],
                             rules_not_evaluated=unevaluated)

    def _delay(self, action: Action, probability: float | None,
               values: Mapping[str, float | None], fired: list[Rule]) -> int:
        if action == Action.APPROVE:
            return 0
        delay = self.payout_delay
        days = delay.max_days if probability is None else \
            delay.delay_days(probability, delay.exposure_of(values))
        floors = [r.min_delay_days for r in fired if r.min_delay_days is not None]
        return min(max([days, *floors]), delay.max_days)


def _increasing(pairs: list[tuple[str, float]]) -> None:
    for (name_a, a), (name_b, b) in zip(pairs, pairs[1:], strict=False):
        if not a < b:
            raise ValueError(f"{name_b} ({b}) must be above {name_a} ({a}); "
                             f"thresholds rise with severity")


def policy_summary(policy: Policy) -> list[dict[str, Any]]:
    """One row per rule (code, floor, delay, conditions): for the CLI and the docs."""
    return [{"code": r.code, "at_least": r.at_least.value,
             "min_delay_days": r.min_delay_days, "when": r.describe(), "message": r.message}
            for r in policy.rules]
