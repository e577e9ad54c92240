"""Third-party ACH fraud: money pulled from, or pushed from, victims' accounts reached
with stolen credentials, moved out within hours; victims report it days or weeks later
and the items come back as unauthorised returns."""

from __future__ import annotations

import numpy as np

from riskscore.simulate.events import RC, movements, round_to
from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY
from riskscore.simulate.typologies.ach_debit_direct import drain
from riskscore.simulate.world import World


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop, b = world.rng, world.pop, world.b
    start = pop.signup_t[idx] + (rng.uniform(3, 90, len(idx)) * DAY).astype(np.int64)
    b.fraud_start[idx] = world.fraud_start_within(idx, start)
    b.fraud_end[idx] = b.fraud_start[idx] + (rng.uniform(1, 5, len(idx)) * DAY).astype(np.int64)
    stay = rng.random(len(idx)) < 0.3
    b.active_end[idx] = np.where(stay, b.active_end[idx],
                                 np.minimum(b.active_end[idx], b.fraud_end[idx] + 10 * DAY))


def act(world: World, net: Network, idx: np.ndarray) -> None:
    rng, b = world.rng, world.b
    items = rng.integers(2, 9, len(idx))
    a = np.repeat(idx, items)
    span = np.repeat(b.fraud_end[idx] - b.fraud_start[idx], items)
    t = np.repeat(b.fraud_start[idx], items) + (rng.random(len(a)) * span).astype(np.int64)
    amount = round_to(rng.integers(50_000, 500_000, len(a)), rng.random(len(a)) < 0.4, 10_000)
    victim = rng.integers(2_000_000_000, 3_000_000_000, len(a))  # a different victim each time
    pull = rng.random(len(a)) < 0.5
    inflows = [movements(world.ids, a[pull], t[pull], "ach_pull", amount[pull],
                         counterparty=victim[pull]),
               movements(world.ids, a[~pull], t[~pull], "received_credit", amount[~pull],
                         counterparty=victim[~pull])]
    for block in inflows:
        world.movements.append(block)
        n = len(block["acct"])
        reported = rng.random(n) < 0.75
        delay = (rng.uniform(3, 60, reported.sum()) * DAY).astype(np.int64)
        world.movements.append(movements(
            world.ids, block["acct"][reported], block["t"][reported] + delay, "ach_return",
            block["amount"][reported], related=block["mid"][reported],
            return_code=RC["R10"], counterparty=block["counterparty"][reported]))
    drain(world, a, t, amount)
