"""The policy's condition language: ``"<feature> <op> <number>"``, nothing more.

Parsed with one regular expression and evaluated with ``operator`` functions: no ``eval``,
no expressions, no function calls, so an edited policy file cannot run code.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

PROBABILITY = "probability"
"""Pseudo-feature naming the model's calibrated probability in a condition."""

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt,
}
_SYNTAX = re.compile(
    r"^\s*(?P<feature>[a-z][a-z0-9_]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Condition:
    """One comparison of a feature value with a number, e.g. ``account_age_days < 30``."""

    feature: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: Any) -> Condition:
        """Parse ``"feature op number"``; raises ``ValueError`` saying what is wrong."""
        if isinstance(text, Condition):
            return text
        if not isinstance(text, str):
            raise ValueError(f"a condition is a string like 'account_age_days < 30', "
                             f"not {type(text).__name__}")
        match = _SYNTAX.match(text)
        if match is None:
            raise ValueError(f"cannot read condition {text!r}: write '<feature> <op> <number>' "
                             f"with op one of {' '.join(OPERATORS)}")
        return cls(match["feature"], match["op"], float(match["value"]))

    def holds(self, values: Mapping[str, float | None]) -> bool | None:
        """Whether the condition holds; ``None`` when the feature has no value (missing,
        ``None`` or NaN), so the caller can tell "false" from "cannot say"."""
        value = values.get(self.feature)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return OPERATORS[self.op](float(value), self.value)

    def __str__(self) -> str:
        shown = int(self.value) if self.value.is_integer() else self.value
        return f"{self.feature} {self.op} {shown}"
