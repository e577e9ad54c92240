"""Force capture / over-capture: the account's issuing card is used at a colluding
merchant that captures without authorisation, above the authorised amount, or twice."""

from __future__ import annotations

import numpy as np

from riskscore.simulate.activity import spend_on_card
from riskscore.simulate.events import CK, MC, poisson_times
from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY
from riskscore.simulate.world import World

COLLUSION_CATEGORIES = np.array([MC["electronics"], MC["quasi_cash"], MC["gift_cards"],
                                 MC["wholesale"]], np.int8)


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop, b = world.rng, world.pop, world.b
    start = pop.signup_t[idx] + (rng.uniform(5, 90, len(idx)) * DAY).astype(np.int64)
    b.fraud_start[idx] = world.fraud_start_within(idx, start)
    b.fraud_end[idx] = b.fraud_start[idx] + (rng.uniform(5, 30, len(idx)) * DAY).astype(np.int64)
    b.card_rate[idx] = np.maximum(b.card_rate[idx], 0.02)


def act(world: World, net: Network, idx: np.ndarray) -> None:
    rng, b = world.rng, world.b
    a, t = poisson_times(rng, idx, b.fraud_start[idx], b.fraud_end[idx],
                         rng.uniform(1, 4, len(idx)))
    captured = np.maximum(rng.lognormal(np.log(40_000), 0.6, len(a)), 1_000)
    kind = rng.choice([CK["force"], CK["over"], CK["normal"]], len(a), p=[0.45, 0.35, 0.2])
    factor = rng.uniform(1.5, 5.0, len(a))  # over-captures authorise a fraction
    authorised = np.where(kind == CK["over"], captured / factor, captured).astype(np.int64)
    spend_on_card(world, a, t, authorised, rng.choice(COLLUSION_CATEGORIES, len(a)),
                  rng.random(len(a)) < 0.3, kind.astype(np.int8), over_factor=factor,
                  merchant=a * 7 + 60_000, multi_p=0.2)
