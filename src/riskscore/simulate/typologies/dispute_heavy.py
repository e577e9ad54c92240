"""Dispute-heavy merchants: real sales, but the goods don't arrive or don't match, so
refunds and chargebacks run several times above their segment's normal (often past the
0.75% line, but a travel agency's normal is past it too), volume later drops sharply, and
late disputes drive the balance negative."""

from __future__ import annotations

import numpy as np

from riskscore.simulate import segments
from riskscore.simulate.activity import sell
from riskscore.simulate.events import lognormal_amounts, poisson_times
from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY
from riskscore.simulate.world import World


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop, b = world.rng, world.pop, world.b
    start = pop.signup_t[idx] + (rng.uniform(0, 30, len(idx)) * DAY).astype(np.int64)
    b.fraud_start[idx] = world.fraud_start_within(idx, start)
    b.fraud_end[idx] = b.fraud_start[idx] + (rng.uniform(60, 150, len(idx)) * DAY).astype(int)
    b.active_end[idx] = world.cfg.horizon
    b.charge_rate[idx] *= 0.3


def act(world: World, net: Network, idx: np.ndarray) -> None:
    rng, b = world.rng, world.b
    n = len(idx)
    # Relative to the segment: a restaurant at 0.5% disputes is as alarming as a travel
    # agency at 6%, and at 0.5% the travel agency would look perfectly normal.
    seg = segments.segment_of(world.pop.mcc[idx])
    volume = segments.normal_charge_rate(world.pop.mcc[idx], world.pop.business_type[idx])
    rate = np.maximum(volume * rng.uniform(4, 12, n), rng.uniform(0.1, 0.4, n))
    a1, t1 = poisson_times(rng, idx, b.fraud_start[idx], b.fraud_end[idx], rate)
    a2, t2 = poisson_times(rng, idx, b.fraud_end[idx], np.full(n, world.cfg.horizon), rate * 0.2)
    a, t = np.concatenate([a1, a2]), np.concatenate([t1, t2])
    pos = np.searchsorted(idx, a)
    dispute_p = np.minimum(np.maximum(segments.profile("dispute_p", seg) * rng.uniform(4, 12, n),
                                      rng.uniform(0.004, 0.012, n)), 0.1)[pos]
    refund_p = np.minimum(segments.profile("refund_p", seg) * rng.uniform(2, 4, n), 0.3)[pos]
    sell(world, a, t, lognormal_amounts(rng, b.ticket[a], 0.6), refund_p, dispute_p,
         rng.random(len(a)) < b.international_p[a] * 2)
