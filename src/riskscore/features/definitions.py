"""Activity feature definitions: the one place a window aggregate is defined.

Each :class:`Agg` is compiled twice: to SQL (``batch_sql``: DuckDB over Parquet, and
Spark SQL) and to a NumPy evaluation (``online``: one account from the store). Derived
features (ratios, depths) are plain functions of the aggregates shared by both. The
parity test checks that both compilations agree on real data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from riskscore.schema import MOVEMENT_SIGN

WINDOWS: tuple[int, ...] = (1, 7, 30, 90)
FLOW_TYPES: tuple[str, ...] = (
    "charge", "refund", "dispute", "payout", "ach_pull", "ach_return", "received_credit",
    "received_debit", "outbound_transfer", "card_capture",
)
INBOUND_TYPES: tuple[str, ...] = tuple(t for t, s in MOVEMENT_SIGN.items() if s > 0)
SPEND_TYPES: tuple[str, ...] = ("payout", "outbound_transfer", "card_capture")
ROUND_UNIT = 10_000  # whole hundreds of the currency
DRAIN_MIN_AMOUNT = 50_000
DRAIN_HOURS = 48
DRAIN_FLOOR = 0.1  # "near zero": at most 10% of the balance right after the inbound money
NEW_DEVICE_HOURS = 24
BANK_CHANGE_PAYOUT_HOURS = 48
NO_EVENT_HOURS = 99_999.0


@dataclass(frozen=True)
class Agg:
    """``fn`` of ``value`` over rows of ``table`` matching ``where``, in the last ``window``
    days before the as-of time (all history when ``window`` is None)."""

    name: str
    table: str
    fn: str  # count | sum | max | avg | distinct | last_ts
    description: str
    signal: str
    value: str | None = None
    where: tuple[tuple[str, tuple[object, ...]], ...] = ()
    window: int | None = None


def _flow_aggs() -> list[Agg]:
    out = []
    for w in WINDOWS:
        for t in FLOW_TYPES:
            label = t.replace("_", " ")
            out.append(Agg(f"{t}_count_{w}d", "movements", "count", f"Number of {label} "
                           f"movements in the last {w} days.", "activity volume by type",
                           where=(("type", (t,)),), window=w))
            out.append(Agg(f"{t}_sum_{w}d", "movements", "sum", f"Amount of {label} movements "
                           f"in the last {w} days (minor units).", "activity volume by type",
                           value="amount", where=(("type", (t,)),), window=w))
    return out


AGGREGATES: tuple[Agg, ...] = (
    *_flow_aggs(),
    Agg("balance", "movements", "sum", "Balance now: all money in minus all money out.",
        "negative balances", value="signed_amount"),
    Agg("instant_payout_count_30d", "movements", "count", "Instant payouts, last 30 days.",
        "instant payout use", where=(("type", ("payout",)), ("instant", (True,))), window=30),
    Agg("failed_payout_count_30d", "movements", "count", "Failed payouts, last 30 days.",
        "payout.failed", where=(("type", ("payout",)), ("status", ("failed",))), window=30),
    Agg("intl_card_sum_30d", "movements", "sum", "International card spend, last 30 days.",
        "international card spend", value="amount",
        where=(("type", ("card_capture",)), ("international", (True,))), window=30),
    Agg("intl_outbound_sum_30d", "movements", "sum", "Cross-border outbound transfers, last "
        "30 days.", "international outbound transfers", value="amount",
        where=(("type", ("outbound_transfer",)), ("international", (True,))), window=30),
    Agg("gift_card_sum_30d", "movements", "sum", "Card spend at gift-card and quasi-cash "
        "merchants, last 30 days.", "spend at merchants selling gift cards", value="amount",
        where=(("type", ("card_capture",)), ("merchant_category", ("gift_cards", "quasi_cash"))),
        window=30),
    Agg("force_capture_count_90d", "movements", "count", "Card captures without an "
        "authorisation, last 90 days.", "force captures",
        where=(("type", ("card_capture",)), ("capture_kind", ("force",))), window=90),
    Agg("over_capture_count_90d", "movements", "count", "Card captures above the authorised "
        "amount, last 90 days.", "over-captures",
        where=(("type", ("card_capture",)), ("capture_kind", ("over",))), window=90),
    Agg("multi_capture_count_90d", "movements", "count", "Second captures of one "
        "authorisation, last 90 days.", "over-captures (multiple)",
        where=(("type", ("card_capture",)), ("capture_kind", ("multi",))), window=90),
    Agg("ach_unauthorised_return_count_90d", "movements", "count", "ACH returns for "
        "unauthorised debits (R10, R29), last 90 days.", "ACH returns",
        where=(("type", ("ach_return",)), ("return_code", ("R10", "R29"))), window=90),
    Agg("inbound_counterparties_30d", "movements", "distinct", "Distinct originators of ACH "
        "pulls and received credits, last 30 days.", "a new originator",
        value="counterparty", where=(("type", ("ach_pull", "received_credit")),), window=30),
    Agg("round_count_30d", "movements", "count", "Movements in whole hundreds, last 30 days.",
        "large or round amounts", where=(("type", ("charge", "ach_pull", "received_credit",
                                                    "outbound_transfer")),
                                          ("is_round", (True,))), window=30),
    Agg("roundable_count_30d", "movements", "count", "Charges, ACH pulls, received credits "
        "and outbound transfers, last 30 days.", "large or round amounts",
        where=(("type", ("charge", "ach_pull", "received_credit", "outbound_transfer")),),
        window=30),
    Agg("max_amount_7d", "movements", "max", "Largest movement, last 7 days.",
        "amounts far above the account's own average", value="amount",
        where=(("type", FLOW_TYPES),), window=7),
    Agg("mean_amount_90d", "movements", "avg", "Mean movement, last 90 days.",
        "amounts far above the account's own average", value="amount",
        where=(("type", FLOW_TYPES),), window=90),
    Agg("drain_count_30d", "movements", "count", f"Inbound amounts of at least "
        f"{DRAIN_MIN_AMOUNT / 100:.0f} followed within {DRAIN_HOURS} h by outflows taking the "
        f"balance to at most {DRAIN_FLOOR:.0%} of what it was, last 30 days.",
        "large credits followed by outbound transfers that bring the balance to zero",
        where=(("drained", (True,)),), window=30),
    Agg("payout_after_bank_change_count_30d", "movements", "count", "Payouts within "
        f"{BANK_CHANGE_PAYOUT_HOURS} h after a bank-account change, last 30 days.",
        "payouts soon after a bank-account change",
        where=(("type", ("payout",)), ("after_bank_change", (True,))), window=30),
    Agg("login_count_7d", "logins", "count", "Logins, last 7 days.", "logins", window=7),
    Agg("login_count_30d", "logins", "count", "Logins, last 30 days.", "logins", window=30),
    Agg("failed_login_count_7d", "logins", "count", "Failed logins, last 7 days.",
        "logins (credential stuffing)", where=(("success", (False,)),), window=7),
    Agg("new_device_login_count_7d", "logins", "count", "Logins from a device never seen on "
        "the account before, last 7 days.", "new device login", where=(("new_device", (True,)),),
        window=7),
    Agg("new_device_login_count_30d", "logins", "count", "Logins from a device never seen on "
        "the account before, last 30 days.", "new device login",
        where=(("new_device", (True,)),), window=30),
    Agg("new_ip_login_count_30d", "logins", "count", "Logins from an IP never seen on the "
        "account before, last 30 days.", "new IP login", where=(("new_ip", (True,)),),
        window=30),
    Agg("foreign_ip_login_count_30d", "logins", "count", "Logins from an IP outside the "
        "account's country, last 30 days.", "foreign IP", where=(("foreign_ip", (True,)),),
        window=30),
    Agg("risky_ip_login_count_30d", "logins", "count", "Logins from datacenter or proxy IPs, "
        "last 30 days.", "datacenter IP", where=(("ip_type", ("datacenter", "proxy")),),
        window=30),
    *(Agg(f"{c}_change_count_{w}d", "changes", "count", f"{c.replace('_', ' ').capitalize()} "
          f"changes, last {w} days.", "sensitive changes", where=(("change_type", (c,)),),
          window=w)
      for c in ("bank_account", "email", "password", "phone") for w in (7, 30)),
    Agg("changes_from_new_device_count_30d", "changes", "count", "Sensitive changes made from "
        f"a device first seen less than {NEW_DEVICE_HOURS} h before, last 30 days.",
        "sensitive changes from a new device", where=(("from_new_device", (True,)),),
        window=30),
    Agg("last_bank_change_ts", "changes", "last_ts", "Time of the last bank-account change.",
        "change of bank account", value="ts", where=(("change_type", ("bank_account",)),)),
)

Columns = Mapping[str, np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


@dataclass(frozen=True)
class Derived:
    """A feature computed from aggregates (and the account age, in days)."""

    name: str
    description: str
    signal: str
    fn: Callable[[Columns], np.ndarray]


DERIVED: tuple[Derived, ...] = (
    Derived("dispute_rate_90d", "Disputes per charge, last 90 days (0.75% is excessive).",
            "dispute-heavy merchants",
            lambda c: _ratio(c["dispute_count_90d"], c["charge_count_90d"])),
    Derived("refund_rate_90d", "Refunds per charge, last 90 days.", "refunds vs chargebacks",
            lambda c: _ratio(c["refund_count_90d"], c["charge_count_90d"])),
    Derived("negative_balance", "The balance is below zero.", "negative balances",
            lambda c: (np.asarray(c["balance"], float) < 0).astype(float)),
    Derived("negative_balance_depth", "How far below zero the balance is (minor units).",
            "negative balances", lambda c: np.maximum(-np.asarray(c["balance"], float), 0.0)),
    Derived("ach_in_vs_card_30d", "ACH pulls and received credits per unit of card-acquiring "
            "volume, last 30 days.", "low card volume but high received credits or debits",
            lambda c: _ratio(np.asarray(c["ach_pull_sum_30d"], float)
                             + np.asarray(c["received_credit_sum_30d"], float),
                             np.asarray(c["charge_sum_30d"], float) + 10_000)),
    Derived("received_debit_vs_card_30d", "Received debits per unit of card volume, last 30 "
            "days.", "low card volume but high received credits or debits",
            lambda c: _ratio(c["received_debit_sum_30d"],
                             np.asarray(c["charge_sum_30d"], float) + 10_000)),
    Derived("intl_card_share_30d", "Share of card spend that is international, last 30 days.",
            "international card spend",
            lambda c: _ratio(c["intl_card_sum_30d"], c["card_capture_sum_30d"])),
    Derived("intl_outbound_share_30d", "Share of outbound transfers that cross borders, last "
            "30 days.", "international outbound transfers",
            lambda c: _ratio(c["intl_outbound_sum_30d"], c["outbound_transfer_sum_30d"])),
    Derived("gift_card_share_30d", "Share of card spend at gift-card or quasi-cash merchants.",
            "spend at merchants selling gift cards",
            lambda c: _ratio(c["gift_card_sum_30d"], c["card_capture_sum_30d"])),
    Derived("round_share_30d", "Share of movements in whole hundreds, last 30 days.",
            "large or round amounts",
            lambda c: _ratio(c["round_count_30d"], c["roundable_count_30d"])),
    Derived("max_vs_mean_amount", "Largest movement of the last 7 days over the 90-day mean.",
            "amounts far above the account's own average",
            lambda c: _ratio(np.nan_to_num(np.asarray(c["max_amount_7d"], float)),
                             np.nan_to_num(np.asarray(c["mean_amount_90d"], float)))),
    Derived("volume_change_30_60", "Charge volume of the last 30 days over the 30-day average "
            "of the 60 days before.", "sharply changed volume",
            lambda c: _ratio(c["charge_sum_30d"],
                             (np.asarray(c["charge_sum_90d"], float)
                              - np.asarray(c["charge_sum_30d"], float)) / 2 + 10_000)),
    Derived("instant_payout_share_30d", "Share of payouts that were instant, last 30 days.",
            "instant payout use",
            lambda c: _ratio(c["instant_payout_count_30d"], c["payout_count_30d"])),
    Derived("hours_since_bank_change", f"Hours since the last bank-account change "
            f"({NO_EVENT_HOURS:.0f} when none).", "change of bank account",
            lambda c: np.where(np.isnan(np.asarray(c["last_bank_change_ts"], float)),
                               NO_EVENT_HOURS,
                               np.minimum((np.asarray(c["as_of_epoch"], float)
                                           - np.asarray(c["last_bank_change_ts"], float))
                                          / 3600, NO_EVENT_HOURS))),
)

HELPER_AGGREGATES: frozenset[str] = frozenset({"last_bank_change_ts", "roundable_count_30d"})
"""Aggregates that only feed derived features and are not model inputs themselves."""


def activity_feature_names() -> list[str]:
    """Model inputs from activity, in a stable order."""
    return [a.name for a in AGGREGATES if a.name not in HELPER_AGGREGATES] + [
        d.name for d in DERIVED] + ["account_age_days"]


def apply_derived(columns: dict[str, np.ndarray], age_days: np.ndarray) -> dict[str, np.ndarray]:
    """Add derived features and the account age to a mapping of aggregate columns; a
    derived feature whose inputs are missing is left out."""
    out = dict(columns)
    for d in DERIVED:
        try:
            out[d.name] = np.asarray(d.fn(out), float)
        except KeyError:  # an input aggregate was dropped: its source data is absent
            continue
    out["account_age_days"] = np.asarray(age_days, float)
    return out
