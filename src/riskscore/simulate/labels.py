"""When the platform learns that an account is fraudulent, and what it lost.

Labels come late and some never come: bust-outs are found when the stolen-card
disputes land (weeks later, up to 110 days), ACH fraud when the returns arrive,
takeovers when the owner complains, dispute-heavy merchants once disputes pile up,
rings when the first member is caught. A share of fraud is never detected.
"""

from __future__ import annotations

import numpy as np

from riskscore.simulate.events import MT, concat
from riskscore.simulate.payouts import balances, first_time
from riskscore.simulate.population import DAY, GOOD, T
from riskscore.simulate.world import World

NEVER = np.iinfo(np.int64).max
UNDETECTED_SHARE = 0.08


def _days(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return (rng.uniform(low, high, n) * DAY).astype(np.int64)


def _nth_dispute(m: dict[str, np.ndarray], n_accounts: int, k: int) -> np.ndarray:
    rows = m["type"] == MT["dispute"]
    acct, t = m["acct"][rows], m["t"][rows]
    order = np.lexsort((t, acct))
    acct, t = acct[order], t[order]
    starts = np.searchsorted(acct, np.arange(n_accounts))
    counts = np.bincount(acct, minlength=n_accounts)
    out = np.full(n_accounts, NEVER)
    has = counts >= k
    out[has] = t[starts[has] + k - 1]
    return out


def assign_labels(world: World) -> None:
    """Fill ``world.label_known`` (-1: never) and ``world.loss`` for every account."""
    rng, pop, b = world.rng, world.pop, world.b
    n = pop.n
    m = concat(world.movements)
    start = np.where(b.fraud_start >= 0, b.fraud_start, 0)
    dispute = first_time(m, "dispute", n, start)
    ach_return = first_time(m, "ach_return", n, start)
    third_dispute = _nth_dispute(m, n, 3)
    fallback = np.maximum(b.fraud_end, b.fraud_start) + _days(rng, 20, 60, n)

    known = np.full(n, -1, np.int64)
    typ = pop.typology
    card_fraud = np.isin(typ, [T["bust_out"], T["signup_burst"], T["ring"]])
    known = np.where(card_fraud, np.where(dispute < NEVER, dispute + _days(rng, 1, 14, n),
                                          fallback), known)
    ach = np.isin(typ, [T["ach_debit_direct"], T["ach_third_party"]]) | (
        (typ == T["ring"]) & (ach_return < NEVER))
    known = np.where(ach, np.where(ach_return < NEVER, ach_return + _days(rng, 0, 3, n),
                                   fallback), known)
    known = np.where(typ == T["dispute_heavy"],
                     np.where(third_dispute < NEVER, third_dispute + _days(rng, 5, 30, n),
                              fallback), known)
    known = np.where(typ == T["force_capture"], b.fraud_start + _days(rng, 15, 60, n), known)
    known = np.where(typ == T["account_takeover"], b.fraud_start + _days(rng, 1, 12, n), known)
    # A ring is unravelled together once its first member is caught.
    ring = np.flatnonzero(typ == T["ring"])
    if len(ring):
        groups = pop.group[ring]
        first_caught = np.full(groups.max() + 1, NEVER)
        np.minimum.at(first_caught, groups, known[ring])
        known[ring] = np.minimum(known[ring], first_caught[groups] + _days(rng, 0, 7, len(ring)))
    fraud = typ != GOOD
    missed = fraud & (rng.random(n) < UNDETECTED_SHARE)
    known[missed | ~fraud] = -1

    final = balances(m, n)
    loss = np.where(final < 0, -final, 0).astype(np.int64)
    ato = np.flatnonzero(typ == T["account_takeover"])
    if len(ato):
        payouts = m["type"] == MT["payout"]
        in_window = payouts & (m["t"] >= start[m["acct"]]) & (m["t"] < b.fraud_end[m["acct"]] + DAY)
        stolen = np.bincount(m["acct"][in_window], weights=m["amount"][in_window], minlength=n)
        loss[ato] = stolen[ato].astype(np.int64)
    loss[~fraud] = 0
    world.label_known = known
    world.loss = loss
