"""Fake identity / bust-out: looks like a small seller, then a burst of volume paid out
at once, then the stolen-card disputes land and the balance goes negative."""

from __future__ import annotations

import numpy as np

from riskscore.simulate import segments
from riskscore.simulate.activity import sell
from riskscore.simulate.events import grid, poisson_times, round_to
from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY
from riskscore.simulate.world import World


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop = world.rng, world.pop
    n = len(idx)
    quick = rng.random(n) < 0.2
    delay = (np.where(quick, rng.uniform(0.5, 3, n), rng.uniform(7, 45, n)) * DAY).astype(int)
    schedule(world, idx, world.fraud_start_within(idx, pop.signup_t[idx] + delay))


def schedule(world: World, idx: np.ndarray, start: np.ndarray) -> None:
    """Burst from ``start`` for 2-10 days; most accounts vanish right after."""
    rng, b = world.rng, world.b
    n = len(idx)
    b.fraud_start[idx] = start
    b.fraud_end[idx] = start + (rng.uniform(2, 10, n) * DAY).astype(np.int64)
    vanish = rng.random(n) < 0.85
    b.active_end[idx] = np.where(vanish, np.minimum(b.active_end[idx], b.fraud_end[idx] + 2 * DAY),
                                 b.active_end[idx])
    b.charge_rate[idx] = np.minimum(b.charge_rate[idx], rng.lognormal(np.log(0.05), 0.8, n))


def act(world: World, net: Network, idx: np.ndarray) -> None:
    """The cash-out: many large charges, daily instant payouts, disputes weeks later."""
    rng, b = world.rng, world.b
    n = len(idx)
    # The burst is big for the segment, not in absolute terms.
    volume = segments.normal_charge_rate(world.pop.mcc[idx], world.pop.business_type[idx])
    rate = np.maximum(volume * rng.uniform(8, 30, n), rng.uniform(2, 6, n))
    a, t = poisson_times(rng, idx, b.fraud_start[idx], b.fraud_end[idx], rate)
    ticket = b.ticket[a] * rng.uniform(1.5, 4.0, len(a))
    amount = round_to((ticket * rng.lognormal(0, 0.5, len(a))).astype(np.int64),
                      rng.random(len(a)) < 0.3, 1_000)
    pos = np.searchsorted(idx, a)
    intl_p = rng.uniform(0.2, 0.7, n)[pos]
    dispute_p = rng.uniform(0.2, 0.6, n)[pos]
    sell(world, a, t, amount, np.full(len(a), 0.01), dispute_p, rng.random(len(a)) < intl_p)
    daily_cash_out(world, idx, b.fraud_start[idx], b.fraud_end[idx] + 2 * DAY, 0.7)


def daily_cash_out(world: World, idx: np.ndarray, start: np.ndarray, end: np.ndarray,
                   instant_p: float) -> None:
    """Pay out everything every day between ``start`` and ``end``."""
    acct, t = grid(idx, start, np.minimum(end, world.cfg.horizon), DAY)
    world.payout_points.add(acct, t, 0, instant_p)
