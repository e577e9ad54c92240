"""Direct ACH debit fraud: pull money from an account the fraudster controls elsewhere,
spend it at once (gift cards, transfers out), then have the debit returned as
unauthorised: the return, 2-4 business days later, leaves a negative balance."""

from __future__ import annotations

import numpy as np

from riskscore.simulate.activity import add_business_days, spend_on_card
from riskscore.simulate.events import CK, MC, RC, movements, round_to
from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY, HOUR
from riskscore.simulate.world import World

CASH_OUT_CATEGORIES = np.array([MC["gift_cards"], MC["electronics"], MC["quasi_cash"],
                                MC["wholesale"]], np.int8)


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop = world.rng, world.pop
    start = pop.signup_t[idx] + (rng.uniform(0.2, 20, len(idx)) * DAY).astype(np.int64)
    schedule(world, idx, world.fraud_start_within(idx, start))


def schedule(world: World, idx: np.ndarray, start: np.ndarray) -> None:
    rng, b = world.rng, world.b
    b.fraud_start[idx] = start
    b.fraud_end[idx] = start + 2 * DAY
    b.active_end[idx] = np.minimum(b.active_end[idx],
                                   start + (rng.uniform(5, 9, len(idx)) * DAY).astype(np.int64))


def act(world: World, net: Network, idx: np.ndarray) -> None:
    rng, b = world.rng, world.b
    start = np.datetime64(world.cfg.start.replace(tzinfo=None), "D")
    pulls_each = rng.integers(1, 5, len(idx))
    a = np.repeat(idx, pulls_each)
    t = np.repeat(b.fraud_start[idx], pulls_each) + rng.integers(0, 2 * DAY, len(a))
    amount = round_to(rng.integers(150_000, 990_000, len(a)), rng.random(len(a)) < 0.6, 10_000)
    pulls = movements(world.ids, a, t, "ach_pull", amount, counterparty=a + 1_000_000_000)
    world.movements.append(pulls)
    drain(world, a, t, amount)
    returned = rng.random(len(a)) < 0.9
    code = np.where(rng.random(returned.sum()) < 0.7, RC["R10"], RC["R29"])
    world.movements.append(movements(
        world.ids, a[returned], add_business_days(t[returned], rng.integers(2, 5, returned.sum()),
                                                  start),
        "ach_return", amount[returned], related=pulls["mid"][returned], return_code=code,
        counterparty=pulls["counterparty"][returned]))


def drain(world: World, acct: np.ndarray, t: np.ndarray, amount: np.ndarray) -> None:
    """Spend ~all of each inflow within hours: card captures and transfers out."""
    rng = world.rng
    n = len(acct)
    pieces = rng.integers(1, 4, n)
    share = rng.uniform(0.85, 1.0, n) / pieces
    a = np.repeat(acct, pieces)
    when = np.repeat(t, pieces) + rng.integers(HOUR // 2, 30 * HOUR, len(a))
    value = (np.repeat(amount * share, pieces)).astype(np.int64)
    card = rng.random(len(a)) < 0.5
    spend_on_card(world, a[card], when[card], value[card],
                  rng.choice(CASH_OUT_CATEGORIES, card.sum()), rng.random(card.sum()) < 0.4,
                  np.full(card.sum(), CK["normal"], np.int8))
    world.movements.append(movements(
        world.ids, a[~card], when[~card], "outbound_transfer", value[~card],
        international=rng.random((~card).sum()) < 0.4,
        counterparty=rng.integers(100_000, 200_000, (~card).sum())))
