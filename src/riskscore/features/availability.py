"""Which features a dataset can support: every feature's inputs (tables and columns).

A platform's own export may lack optional tables or columns (docs/data.md). A feature
whose input is absent, or present but entirely null, is dropped, never filled with a
default that would pass for a real value ("no phone" for every account when the export
simply has no phone column). An input is ``"table"``, ``"table.column"``, or
alternatives joined by ``|`` (any one suffices).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from riskscore.dataset import DatasetReport
from riskscore.dataset.validate import REQUIRED_TABLES
from riskscore.features.definitions import AGGREGATES, DERIVED, HELPER_AGGREGATES, Agg
from riskscore.features.links import LINK_KINDS, VELOCITY_FEATURES
from riskscore.schema import TABLES

DEVICE_SOURCES = "signup_sessions|logins|changes"
KNOWN_FRAUD = "labels.label_known_at"

APPLICATION_INPUTS: dict[str, tuple[str, ...]] = {
    "email_free_provider": ("accounts.email",),
    "email_disposable": ("accounts.email",),
    "email_domain_matches_website": ("accounts.email", "accounts.website"),
    "has_website": ("accounts.website",),
    "social_profile_count": ("accounts.social_profiles",),
    "licence_required": ("accounts.mcc",),
    "licence_missing": ("accounts.mcc", "accounts.licence_number"),
    "verification_status": ("accounts.verification_status",),
    "verification_failures": ("accounts.verification_failures",),
    "phone_present": ("accounts.phone",),
    "phone_valid": ("accounts.phone",),
    "phone_country_mismatch": ("accounts.phone",),
    "name_email_similarity": ("accounts.email", "accounts.business_name"),
    "bank_holder_similarity": ("accounts.bank_account_holder_name",),
    "has_address": ("accounts.address_line1",),
    "has_tax_id": ("accounts.tax_id",),
    "business_type": ("accounts.business_type",),
    "mcc_high_risk": ("accounts.mcc",),
    "representative_age": ("accounts.representative_dob",),
    "signup_ip_type": ("signup_sessions.ip_type",),
    "signup_ip_foreign": ("signup_sessions.ip_country",),
    "signup_session_seconds": ("signup_sessions",),
    "signup_hour_utc": ("signup_sessions",),
}
LINK_INPUTS: dict[str, str] = {
    "email": "accounts.email", "phone": "accounts.phone", "address": "accounts.address_line1",
    "tax_id": "accounts.tax_id", "bank_account": "accounts.bank_fingerprint",
    "device": DEVICE_SOURCES, "ip": DEVICE_SOURCES,
}
# Row flags computed in SQL (batch_sql) and what they need beyond their own table.
FLAG_INPUTS: dict[str, tuple[str, ...]] = {
    "after_bank_change": ("changes",),
    "foreign_ip": ("logins.ip_country",),
    "from_new_device": ("signup_sessions|logins",),
}
SQL_FLAGS = frozenset({"signed_amount", "is_round", "drained", "new_device", "new_ip", "ts",
                       *FLAG_INPUTS})


def _aggregate_inputs(agg: Agg) -> tuple[str, ...]:
    columns = [c for c, _ in agg.where] + ([agg.value] if agg.value else [])
    inputs = [agg.table]
    for col in columns:
        inputs += FLAG_INPUTS.get(col, ()) if col in SQL_FLAGS else (f"{agg.table}.{col}",)
    return tuple(dict.fromkeys(inputs))


class _Recorder(Mapping[str, np.ndarray]):
    """A stand-in column mapping that records which names a derived feature reads."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def __getitem__(self, key: str) -> np.ndarray:
        self.read.append(key)
        return np.zeros(1)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def feature_inputs() -> dict[str, tuple[str, ...]]:
    """Inputs of every feature of the catalogue (derived ones: those of their aggregates)."""
    out: dict[str, tuple[str, ...]] = dict(APPLICATION_INPUTS)
    out.update({name: ("signup_sessions",) for name in VELOCITY_FEATURES})
    for kind in LINK_KINDS:
        out[f"shared_{kind}"] = (LINK_INPUTS[kind],)
        out[f"fraud_shared_{kind}"] = (LINK_INPUTS[kind], KNOWN_FRAUD)
    out["cluster_size"] = ("accounts",)
    out["cluster_known_fraud"] = (KNOWN_FRAUD,)
    aggregates = {a.name: _aggregate_inputs(a) for a in AGGREGATES}
    out.update({k: v for k, v in aggregates.items() if k not in HELPER_AGGREGATES})
    for d in DERIVED:
        recorder = _Recorder()
        d.fn(recorder)
        out[d.name] = tuple(dict.fromkeys(i for name in recorder.read if name in aggregates
                                          for i in aggregates[name]))
    out["account_age_days"] = ("accounts",)
    return out


def _present(report: DatasetReport, item: str) -> bool:
    for option in item.split("|"):
        table, _, column = option.partition(".")
        if report.has(table, column or None):
            return True
    return False


def missing_inputs(report: DatasetReport) -> dict[str, list[str]]:
    """``{feature: [absent inputs]}`` for every feature the data cannot support."""
    out = {}
    for name, inputs in feature_inputs().items():
        absent = [i for i in inputs if not _present(report, i)]
        if absent:  # a whole table missing is named once, not column by column
            out[name] = list(dict.fromkeys(
                i if "|" in i or i.split(".")[0] in report.rows else i.split(".")[0]
                for i in absent))
    return out


def describe(dropped: Mapping[str, list[str]]) -> str:
    """One line per absent input: ``accounts.phone -> phone_present, phone_valid``."""
    by_input: dict[str, list[str]] = {}
    for name, absent in dropped.items():
        by_input.setdefault(", ".join(absent), []).append(name)
    return "; ".join(f"{k} absent -> {', '.join(v)}" for k, v in sorted(by_input.items()))


def dropped_when_absent() -> dict[str, list[str]]:
    """For each optional table and optional column alone, the features lost without it."""
    def lost(report: DatasetReport) -> list[str]:
        return list(missing_inputs(report))

    full = {name: 1 for name in TABLES}
    out = {}
    for name, table in TABLES.items():
        if name not in REQUIRED_TABLES:
            out[name] = lost(DatasetReport(Path(), {k: v for k, v in full.items() if k != name}))
        for col in table.columns:
            if not col.required:
                out[f"{name}.{col.name}"] = lost(DatasetReport(Path(), dict(full),
                                                               missing_columns={name: [col.name]}))
    return out


def markdown() -> str:
    """The table of docs/data.md: what each absent optional input costs."""
    lines = ["| absent (or entirely null) | features dropped |", "|---|---|"]
    for item, features in dropped_when_absent().items():
        lines.append(f"| `{item}` | {', '.join(f'`{f}`' for f in features) or 'none'} |")
    return "\n".join(lines) + "\n"
