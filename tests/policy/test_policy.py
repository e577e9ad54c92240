"""The decision policy: bands, hard rules as floors, expected-loss delay, fail closed."""

from __future__ import annotations

from itertools import pairwise

import pytest

from riskscore.contracts import Action, RiskLevel
from riskscore.policy import Policy

RULE_CASES: dict[str, dict[str, float]] = {
    "KNOWN_FRAUD_IDENTIFIER": {"fraud_shared_phone": 1},
    "LINKED_TO_KNOWN_FRAUD": {"cluster_known_fraud": 1},
    "RING_WITH_KNOWN_FRAUD": {"cluster_known_fraud": 4},
    "NEW_ACCOUNT_PULL_FUNDING": {"account_age_days": 5, "ach_pull_sum_7d": 80_000},
    "ACH_UNAUTHORISED_RETURN": {"ach_unauthorised_return_count_90d": 1},
    "DISPOSABLE_EMAIL_RISKY_IP": {"email_disposable": 1, "signup_ip_type": 2},
    "IDENTITY_VERIFICATION_FAILED": {"verification_status": 3},
    "IDENTITY_VERIFICATION_RETRIES": {"verification_failures": 4},
    "SIGNUP_DEVICE_BURST": {"signups_same_device_1d": 5},
    "NEGATIVE_BALANCE_DEEP": {"negative_balance": 1, "negative_balance_depth": 250_000},
    "DRAIN_PATTERN": {"account_age_days": 20, "drain_count_30d": 3},
    "TAKEOVER_PATTERN": {"changes_from_new_device_count_30d": 1, "hours_since_bank_change": 5},
    "EXCESSIVE_DISPUTES": {"dispute_rate_90d": 0.02, "charge_count_90d": 400},
    "FORCE_CAPTURES": {"force_capture_count_90d": 3},
}


def test_clean_account_with_low_score_is_approved(policy: Policy, clean) -> None:
    outcome = policy.decide(0.001, clean, {"has_website": -0.2})
    assert outcome.action == Action.APPROVE and outcome.delay_days == 0
    assert outcome.risk_level == RiskLevel.LOW
    assert outcome.rules_fired == [] and outcome.rules_not_evaluated == []
    assert outcome.reasons == []


def test_every_rule_of_the_default_policy_has_a_case(policy: Policy) -> None:
    assert set(RULE_CASES) | {"KNOWN_FRAUD_BANK_OR_TAX_ID"} == {r.code for r in policy.rules}


@pytest.mark.parametrize("code", sorted(RULE_CASES))
def test_each_hard_rule_fires_and_floors_the_action(policy: Policy, clean, code: str) -> None:
    rule = next(r for r in policy.rules if r.code == code)
    outcome = policy.decide(0.001, {**clean, **RULE_CASES[code]})
    assert code in outcome.rules_fired
    assert outcome.action >= rule.at_least
    assert outcome.action == max(r.at_least for r in policy.rules
                                 if r.code in outcome.rules_fired)
    assert any(r.code == code and r.source == "rule" for r in outcome.reasons)
    if rule.min_delay_days:
        assert outcome.delay_days >= rule.min_delay_days
    # A floor never lowers a stricter score band.
    assert policy.decide(0.9, {**clean, **RULE_CASES[code]}).action >= Action.PAUSE_PAYOUTS


@pytest.mark.parametrize("code", sorted(RULE_CASES))
def test_rule_stays_quiet_just_outside_its_condition(policy: Policy, clean, code: str) -> None:
    assert code not in policy.decide(0.001, clean).rules_fired


def test_pull_funding_holds_payouts_past_the_ach_return_window(policy: Policy, clean) -> None:
    new = {**clean, "account_age_days": 3, "ach_pull_sum_7d": 500}
    outcome = policy.decide(0.001, new)
    assert outcome.action == Action.DELAY_PAYOUTS
    assert outcome.delay_days >= 6  # 4 business days, spanning a weekend
    old = policy.decide(0.001, {**new, "account_age_days": 45})
    assert old.action == Action.APPROVE


def test_reject_needs_corroborated_known_fraud(policy: Policy, clean) -> None:
    linked = {**clean, "fraud_shared_bank_account": 1}
    assert policy.decide(0.95, clean).action == Action.PAUSE_PAYOUTS
    assert policy.decide(0.5, linked).action == Action.MANUAL_REVIEW
    outcome = policy.decide(0.85, linked)
    assert outcome.action == Action.REJECT
    assert outcome.reasons[1].code == "KNOWN_FRAUD_BANK_OR_TAX_ID"  # strictest rule first


@pytest.mark.parametrize(("probability", "action", "level"), [
    (0.0, Action.APPROVE, RiskLevel.LOW), (0.0799, Action.APPROVE, RiskLevel.MEDIUM),
    (0.08, Action.DELAY_PAYOUTS, RiskLevel.MEDIUM), (0.2, Action.DELAY_PAYOUTS, RiskLevel.HIGH),
    (0.25, Action.MANUAL_REVIEW, RiskLevel.HIGH), (0.5, Action.MANUAL_REVIEW, RiskLevel.CRITICAL),
    (0.6, Action.PAUSE_PAYOUTS, RiskLevel.CRITICAL), (1.0, Action.PAUSE_PAYOUTS,
                                                      RiskLevel.CRITICAL),
])
def test_thresholds_map_to_actions_and_levels(policy: Policy, clean, probability: float,
                                              action: Action, level: RiskLevel) -> None:
    outcome = policy.decide(probability, clean)
    assert (outcome.action, outcome.risk_level) == (action, level)
    assert any(r.code == "RISK_SCORE" for r in outcome.reasons) == (action > Action.APPROVE)


def test_every_action_is_reachable(policy: Policy, clean) -> None:
    reached = {policy.decide(p, clean).action for p in (0.0, 0.1, 0.3, 0.7)}
    reached.add(policy.decide(0.9, {**clean, "fraud_shared_tax_id": 1}).action)
    assert reached == set(Action)


def test_fail_closed_when_the_model_cannot_score(policy: Policy, clean) -> None:
    outcome = policy.decide(None, clean, {"has_website": 2.0})
    assert outcome.action == Action.MANUAL_REVIEW
    assert outcome.risk_level == RiskLevel.HIGH
    assert outcome.delay_days == policy.payout_delay.max_days
    assert [r.code for r in outcome.reasons] == ["MODEL_UNAVAILABLE"]
    assert outcome.reasons[0].source == "system"
    # A rule on the probability cannot be decided; one already false elsewhere can.
    assert "KNOWN_FRAUD_BANK_OR_TAX_ID" not in outcome.rules_not_evaluated
    linked = policy.decide(None, {**clean, "fraud_shared_bank_account": 1})
    assert "KNOWN_FRAUD_BANK_OR_TAX_ID" in linked.rules_not_evaluated
    assert linked.action == Action.MANUAL_REVIEW  # never reject without a score
    # Rules on features still apply and can only make it stricter.
    worse = policy.decide(None, {**clean, "negative_balance_depth": 500_000})
    assert worse.action == Action.PAUSE_PAYOUTS


def test_fail_closed_with_no_features_at_all(policy: Policy) -> None:
    outcome = policy.decide(None, {})
    assert outcome.action == Action.MANUAL_REVIEW
    assert len(outcome.rules_not_evaluated) == len(policy.rules)


def test_missing_features_skip_rules_without_crashing(policy: Policy, clean) -> None:
    partial = {k: v for k, v in clean.items() if k != "account_age_days"}
    partial.update(ach_pull_sum_7d=1_000, drain_count_30d=float("nan"))
    outcome = policy.decide(0.01, partial)
    assert "NEW_ACCOUNT_PULL_FUNDING" in outcome.rules_not_evaluated
    assert "DRAIN_PATTERN" in outcome.rules_not_evaluated
    assert outcome.action == Action.APPROVE
    # One true alternative is enough for an `any` rule even when others are missing.
    only = policy.decide(0.01, {"fraud_shared_device": 1})
    assert "KNOWN_FRAUD_IDENTIFIER" in only.rules_fired


def test_probability_outside_zero_one_is_refused(policy: Policy, clean) -> None:
    with pytest.raises(ValueError, match="probability"):
        policy.decide(1.5, clean)


def test_model_reasons_follow_rules_and_are_not_repeated(policy: Policy, clean) -> None:
    features = {**clean, "fraud_shared_email": 1, "email_free_provider": 1}
    outcome = policy.decide(0.3, features, {"fraud_shared_email": 0.9, "email_free_provider": 0.4,
                                             "has_tax_id": 0.1})
    assert [r.source for r in outcome.reasons] == ["model", "rule", "model", "model", "model"]
    codes = [r.code for r in outcome.reasons]
    assert codes[:2] == ["RISK_SCORE", "KNOWN_FRAUD_IDENTIFIER"]
    assert "KNOWN_FRAUD_MATCH" in codes and len(codes) == len(set(codes))


# --- expected-loss payout delay -------------------------------------------------------------

PROBABILITIES = [0.08, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0]
EXPOSURES = [0.0, 1_000.0, 20_000.0, 100_000.0, 1_000_000.0, 1e9]


def test_delay_monotone_in_probability_and_exposure_and_bounded(policy: Policy) -> None:
    delay = policy.payout_delay
    grid = [[delay.delay_days(p, e) for e in EXPOSURES] for p in PROBABILITIES]
    for row in grid:
        assert all(a <= b for a, b in pairwise(row))
    for column in zip(*grid, strict=True):
        assert all(a <= b for a, b in pairwise(column))
    flat = [d for row in grid for d in row]
    assert min(flat) == delay.min_days and max(flat) == delay.max_days
    assert all(delay.min_days <= d <= delay.max_days for d in flat)
    half = delay.delay_days(1.0, delay.half_loss)
    assert half == delay.min_days + -(-(delay.max_days - delay.min_days) // 2)


def test_small_risky_account_is_not_held_like_a_large_one(policy: Policy, clean) -> None:
    small = {**clean, "balance": 2_000, "charge_sum_30d": 3_000}
    large = {**clean, "balance": 900_000, "charge_sum_30d": 4_000_000}
    a, b = policy.decide(0.3, small), policy.decide(0.3, large)
    assert a.action == b.action == Action.MANUAL_REVIEW
    assert a.delay_days < b.delay_days


def test_exposure_counts_negative_balance_depth_not_a_negative_balance(policy: Policy) -> None:
    delay = policy.payout_delay
    assert delay.exposure_of({"balance": -50_000, "negative_balance_depth": 50_000}) == 50_000
    assert delay.exposure_of({"balance": None, "charge_sum_30d": float("nan")}) == 0.0


def test_outcome_becomes_the_api_decision(policy: Policy, clean) -> None:
    from datetime import UTC, datetime

    outcome = policy.decide(0.3, {**clean, "balance": 300_000}, {"has_website": 0.2})
    decision = outcome.decision(account_id="acct_1", score=0.3, model_version="m/1",
                                policy_version=policy.full_version, scored_at=datetime.now(UTC))
    assert (decision.action, decision.delay_days, decision.risk_level) == (
        outcome.action, outcome.delay_days, outcome.risk_level)
    assert decision.reasons == outcome.reasons and decision.policy_version.startswith("2025")
