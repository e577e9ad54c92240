"""Signup bursts: a script opens dozens of accounts within an hour or two from one
datacenter subnet, runs card-testing charges through them and cashes out at once."""

from __future__ import annotations

import numpy as np

from riskscore.simulate.activity import sell
from riskscore.simulate.events import poisson_times
from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY
from riskscore.simulate.typologies.bust_out import daily_cash_out
from riskscore.simulate.world import World


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop, b = world.rng, world.pop, world.b
    n = len(idx)
    delay = (rng.uniform(0.1, 2, n) * DAY).astype(np.int64)
    b.fraud_start[idx] = world.fraud_start_within(idx, pop.signup_t[idx] + delay)
    b.fraud_end[idx] = b.fraud_start[idx] + (rng.uniform(0.5, 2, n) * DAY).astype(np.int64)
    b.active_end[idx] = np.minimum(b.fraud_end[idx] + 2 * DAY, world.cfg.horizon)
    b.charge_rate[idx] = 0.0


def act(world: World, net: Network, idx: np.ndarray) -> None:
    rng, b = world.rng, world.b
    a, t = poisson_times(rng, idx, b.fraud_start[idx], b.fraud_end[idx],
                         rng.uniform(10, 40, len(idx)))
    amount = np.where(rng.random(len(a)) < 0.85, rng.integers(100, 900, len(a)),
                      rng.integers(5_000, 40_000, len(a)))
    sell(world, a, t, amount, np.full(len(a), 0.02), np.full(len(a), 0.25),
         rng.random(len(a)) < 0.7)
    daily_cash_out(world, idx, b.fraud_start[idx], b.fraud_end[idx] + DAY, 0.8)
