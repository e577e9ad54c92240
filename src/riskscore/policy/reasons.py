"""Reason codes of model-driven decisions: features -> stable codes and sentences.

The table lives in ``reasons.yaml`` next to this module. :func:`top_reasons` turns a
model's per-feature contributions (LightGBM ``pred_contrib``) into the few reasons a
person can act on, grouping features that share a code.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from riskscore.contracts import Reason, ReasonCode
from riskscore.features.catalogue import feature_names
from riskscore.policy.errors import PolicyError

REASONS_PATH = Path(__file__).with_name("reasons.yaml")


class ReasonEntry(BaseModel):
    """One code of the table: the features behind it, its sentence and its risky side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: ReasonCode
    features: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)
    message: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    risky: Literal["high", "low"] | None = None
    neutral: float | None = None

    def describes(self, value: float | None) -> bool:
        """Whether the sentence describes this feature value (see ``reasons.yaml``)."""
        if self.neutral is None or value is None or math.isnan(value):
            return True
        return value > self.neutral if self.risky == "high" else value < self.neutral


@dataclass(frozen=True)
class ReasonTable:
    entries: tuple[ReasonEntry, ...]
    by_feature: Mapping[str, ReasonEntry]


def build_table(entries: Iterable[ReasonEntry], features: list[str]) -> ReasonTable:
    """Check that every feature has exactly one code and every pattern matches a feature."""
    entries = tuple(entries)
    problems: list[str] = []
    seen_codes: set[str] = set()
    owner: dict[str, ReasonEntry] = {}
    for entry in entries:
        if entry.code in seen_codes:
            problems.append(f"code {entry.code} appears twice")
        seen_codes.add(entry.code)
        if (entry.risky is None) != (entry.neutral is None):
            problems.append(f"{entry.code}: give both `risky` and `neutral`, or neither")
        for pattern in entry.features:
            matched = fnmatch.filter(features, pattern)
            if not matched:
                problems.append(f"{entry.code}: {pattern!r} matches no feature of the catalogue")
            for name in matched:
                if name in owner and owner[name] is not entry:
                    problems.append(f"feature {name!r} has two codes: {owner[name].code} and "
                                    f"{entry.code}")
                owner[name] = entry
    problems += [f"feature {name!r} has no reason code" for name in features if name not in owner]
    if problems:
        raise PolicyError("reason table: " + "; ".join(problems))
    return ReasonTable(entries, owner)


@lru_cache(maxsize=1)
def reason_table() -> ReasonTable:
    """The packaged reason table, validated against the feature catalogue."""
    raw = yaml.safe_load(REASONS_PATH.read_text())
    try:
        entries = TypeAdapter(list[ReasonEntry]).validate_python(raw)
    except ValidationError as exc:
        raise PolicyError(f"{REASONS_PATH}: {exc}") from exc
    return build_table(entries, feature_names())


def top_reasons(contributions: Mapping[str, float], features: Mapping[str, float | None],
                n: int, *, min_contribution: float = 0.0) -> list[Reason]:
    """The ``n`` strongest risk-increasing reasons behind a model score.

    Positive contributions are summed per code over the features whose values the code's
    sentence describes; codes are ranked by that sum, and those at or below
    ``min_contribution`` are dropped. Keys without a code (such as LightGBM's bias term)
    are ignored.
    """
    table = reason_table()
    totals: dict[str, float] = {}
    entries: dict[str, ReasonEntry] = {}
    for name, contribution in contributions.items():
        entry = table.by_feature.get(name)
        if entry is None or not contribution > 0 or not entry.describes(features.get(name)):
            continue
        totals[entry.code] = totals.get(entry.code, 0.0) + float(contribution)
        entries[entry.code] = entry
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return [Reason(code=code, message=entries[code].message, source="model",
                   contribution=round(total, 6))
            for code, total in ranked[:n] if total > min_contribution]


def markdown() -> str:
    """The reason table as Markdown (generated into ``docs/policy.md``)."""
    lines = ["| code | features | shown when | message |", "|---|---|---|---|"]
    for e in reason_table().entries:
        when = "contribution > 0" if e.neutral is None else \
            f"value {'>' if e.risky == 'high' else '<'} {e.neutral:g}"
        feats = ", ".join(f"`{f}`" for f in e.features)
        lines.append(f"| `{e.code}` | {feats} | {when} | {e.message} |")
    return "\n".join(lines) + "\n"
