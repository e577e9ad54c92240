"""The decision policy: actions from calibrated probabilities, hard rules, payout delays
sized by expected loss, and reason codes. See ``default.yaml`` and docs/policy.md."""

from riskscore.policy.conditions import Condition
from riskscore.policy.errors import PolicyError
from riskscore.policy.loader import DEFAULT_POLICY_PATH, load_policy
from riskscore.policy.model import Policy, PolicyOutcome, Rule, policy_summary
from riskscore.policy.reasons import reason_table, top_reasons

__all__ = [
    "DEFAULT_POLICY_PATH", "Condition", "Policy", "PolicyError", "PolicyOutcome", "Rule",
    "load_policy", "policy_summary", "reason_table", "top_reasons",
]
