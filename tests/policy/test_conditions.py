"""The condition language: tiny, strict, and unable to run code."""

from __future__ import annotations

import math

import pytest

from riskscore.policy import Condition


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("account_age_days < 30", 29, True), ("account_age_days < 30", 30, False),
    ("account_age_days <= 30", 30, True), ("x_1 > 0.5", 0.6, True), ("x_1 > 0.5", 0.5, False),
    ("x >= -1", -1, True), ("x == 3", 3.0, True), ("x != 3", 3.0, False), ("x == 1e3", 1000, True),
])
def test_operators(text: str, value: float, expected: bool) -> None:
    assert Condition.parse(text).holds({Condition.parse(text).feature: value}) is expected


@pytest.mark.parametrize("value", [None, math.nan])
def test_missing_value_cannot_be_decided(value: float | None) -> None:
    assert Condition.parse("x > 1").holds({"x": value}) is None
    assert Condition.parse("x > 1").holds({}) is None


@pytest.mark.parametrize("text", [
    "__import__('os').system('true') > 1", "x > y", "x >> 1", "x > 1 or 1", "x", "X > 1",
    "x > 1; y < 2", "", "x = 1",
])
def test_anything_but_feature_op_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read condition"):
        Condition.parse(text)


def test_non_string_is_refused() -> None:
    with pytest.raises(ValueError, match="not dict"):
        Condition.parse({"feature": "x"})


def test_round_trip_text() -> None:
    assert str(Condition.parse(" balance   <=  -100 ")) == "balance <= -100"
    assert str(Condition.parse("dispute_rate_90d > 0.0075")) == "dispute_rate_90d > 0.0075"
