"""Payouts: each account pays out what its payments balance allows, on its schedule.

The payments balance is what card acquiring brought in, less refunds, disputes, card
spend and earlier payouts; money in a financial account (ACH, received credits) stays
there to be spent. At each payout point an account pays out its payments balance above
a kept float. With ``B`` that balance before payouts and ``S`` the total paid out so far,
``S`` after a point is ``max(S, B - float)``: a running maximum, so the whole portfolio
is one vectorised pass and no payout ever exceeds the funds there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskscore.schema import MOVEMENT_SIGN, MOVEMENT_TYPES
from riskscore.simulate.events import MT, concat, grid, movements
from riskscore.simulate.population import DAY
from riskscore.simulate.world import World

SIGN = np.array([MOVEMENT_SIGN[t] for t in MOVEMENT_TYPES], np.int64)
PAYABLE_TYPES: tuple[str, ...] = ("charge", "refund", "dispute", "payout", "card_capture")
PAYABLE = np.array([t in PAYABLE_TYPES for t in MOVEMENT_TYPES])
MIN_PAYOUT = 100
FIRST_PAYOUT_DELAY = 7 * DAY


def signed(m: dict[str, np.ndarray]) -> np.ndarray:
    """Balance effect of each movement row (failed payouts move nothing)."""
    return np.where(m["failed"], 0, SIGN[m["type"]] * m["amount"])


def payable(m: dict[str, np.ndarray]) -> np.ndarray:
    """Effect of each row on the payments balance that payouts sweep."""
    return np.where(PAYABLE[m["type"]], signed(m), 0)


def _schedule(world: World, m: dict[str, np.ndarray]) -> None:
    """Regular payouts from a week after the first money in, until the account goes quiet."""
    b = world.b
    inflow = m["type"] == MT["charge"]
    first = np.full(world.pop.n, np.iinfo(np.int64).max)
    np.minimum.at(first, m["acct"][inflow], m["t"][inflow])
    has = np.flatnonzero(first < world.cfg.horizon)
    step = b.payout_interval[has] * DAY
    end = np.minimum(b.active_end[has] + step, world.cfg.horizon)
    acct, t = grid(has, first[has] + FIRST_PAYOUT_DELAY - step, end, step)
    world.payout_points.add(acct, t, b.payout_float[acct], b.instant_p[acct])


def add_payouts(world: World) -> None:
    """Turn payout points into payout rows."""
    rng = world.rng
    m = concat(world.movements)
    world.movements = [m]  # one block from here on: later stages read it without copying
    _schedule(world, m)
    span = world.cfg.horizon + 200 * DAY
    order = np.argsort(m["acct"] * span + m["t"], kind="stable")
    keys = (m["acct"] * span + m["t"])[order]
    csum = np.concatenate([[0], np.cumsum(payable(m)[order])])

    pts = world.payout_points
    acct, t = np.concatenate(pts.acct), np.concatenate(pts.t)
    float_, instant_p = np.concatenate(pts.float_), np.concatenate(pts.instant_p)
    by = np.lexsort((t, acct))
    acct, t, float_, instant_p = acct[by], t[by], float_[by], instant_p[by]
    at = np.searchsorted(keys, acct * span + t)
    balance = csum[at] - csum[np.searchsorted(keys, acct * span)]
    target = pd.Series(np.maximum(balance - float_, 0))
    paid = target.groupby(acct).cummax().to_numpy()
    before = np.concatenate([[0], paid[:-1]])
    before[np.r_[True, acct[1:] != acct[:-1]]] = 0
    amount = paid - before
    keep = amount >= MIN_PAYOUT
    acct, t, amount = acct[keep], t[keep], amount[keep]
    instant = rng.random(len(acct)) < instant_p[keep]
    # A few payouts go out only at the second attempt; the failed attempt moves no money.
    retried = rng.random(len(acct)) < 0.004
    world.movements = [concat([
        m,
        movements(world.ids, acct, t, "payout", amount, instant=instant),
        movements(world.ids, acct[retried], t[retried] - DAY // 2, "payout", amount[retried],
                  failed=True, instant=instant[retried]),
    ])]


def balances(m: dict[str, np.ndarray], n_accounts: int) -> np.ndarray:
    """Final balance of every account over all movements."""
    return np.bincount(m["acct"], weights=signed(m), minlength=n_accounts)


def first_time(m: dict[str, np.ndarray], type_: str, n_accounts: int,
               after: np.ndarray) -> np.ndarray:
    """Per account, the first time of a movement of ``type_`` at or after ``after``."""
    rows = m["type"] == MT[type_]
    rows &= m["t"] >= after[m["acct"]]
    out = np.full(n_accounts, np.iinfo(np.int64).max)
    np.minimum.at(out, m["acct"][rows], m["t"][rows])
    return out
