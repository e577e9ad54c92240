"""Fixtures of the policy tests: the packaged policy and a quiet, approvable account."""

from __future__ import annotations

import pytest

from riskscore.features.catalogue import feature_names
from riskscore.policy import Policy, load_policy


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def clean() -> dict[str, float]:
    """Every feature of a verified, established, unlinked, quiet account (no rule fires)."""
    values = dict.fromkeys(feature_names(), 0.0)
    values.update(account_age_days=400.0, hours_since_bank_change=99999.0, cluster_size=1.0,
                  has_website=1.0, email_domain_matches_website=1.0, signup_ip_type=0.0,
                  verification_status=0.0, balance=10_000.0, charge_sum_30d=50_000.0)
    return values
