"""Reason codes: every feature has one, and model contributions become readable reasons."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskscore.features.catalogue import feature_names
from riskscore.policy import PolicyError, reason_table, top_reasons
from riskscore.policy.reasons import ReasonEntry, build_table, markdown

DOCS = Path(__file__).parents[2] / "docs" / "policy.md"


def test_every_catalogue_feature_has_exactly_one_code() -> None:
    table = reason_table()
    assert set(table.by_feature) == set(feature_names())
    codes = [e.code for e in table.entries]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", c) for c in codes)


def test_table_errors_name_the_problem() -> None:
    entries = [ReasonEntry(code="A", features=["x_*"], message="m"),
               ReasonEntry(code="B", features=["x_1", "nope_*"], message="m")]
    with pytest.raises(PolicyError) as err:
        build_table(entries, ["x_1", "x_2", "y"])
    text = str(err.value)
    assert "feature 'x_1' has two codes: A and B" in text
    assert "B: 'nope_*' matches no feature" in text
    assert "feature 'y' has no reason code" in text


def test_top_reasons_group_rank_and_skip_risk_decreasing() -> None:
    contributions = {"fraud_shared_email": 0.3, "fraud_shared_device": 0.5,
                     "email_free_provider": 0.6, "has_tax_id": -0.9, "charge_sum_30d": 0.1,
                     "bias": 4.0}
    features = {"fraud_shared_email": 1, "fraud_shared_device": 2, "email_free_provider": 1,
                "has_tax_id": 0, "charge_sum_30d": 10_000}
    reasons = top_reasons(contributions, features, 2)
    assert [r.code for r in reasons] == ["KNOWN_FRAUD_MATCH", "EMAIL_FREE_PROVIDER"]
    assert reasons[0].contribution == pytest.approx(0.8)
    assert all(r.source == "model" and r.message.endswith(".") for r in reasons)
    assert [r.code for r in top_reasons(contributions, features, 5)][-1] == "CARD_PAYMENT_VOLUME"


def test_reason_only_when_its_sentence_describes_the_value() -> None:
    # A positive contribution from having a website must not say "No business website".
    assert top_reasons({"has_website": 0.7}, {"has_website": 1.0}, 3) == []
    assert [r.code for r in top_reasons({"has_website": 0.7}, {"has_website": 0.0}, 3)] == \
        ["NO_WEBSITE"]
    # Value unknown: the contribution alone decides.
    assert [r.code for r in top_reasons({"has_website": 0.7}, {}, 3)] == ["NO_WEBSITE"]


def test_min_contribution_and_zero_n() -> None:
    contributions = {"email_disposable": 0.05}
    assert top_reasons(contributions, {"email_disposable": 1}, 3, min_contribution=0.1) == []
    assert top_reasons(contributions, {"email_disposable": 1}, 0) == []


def test_docs_carry_the_generated_table() -> None:
    assert markdown() in DOCS.read_text(), "regenerate docs/policy.md (riskscore reasons-doc)"
