"""Rings: a handful of accounts opened within a day or two, sharing devices, a subnet,
phones, bank accounts or addresses, that strike together as bust-outs or ACH fraud."""

from __future__ import annotations

import numpy as np

from riskscore.simulate.network import Network
from riskscore.simulate.population import DAY
from riskscore.simulate.typologies import ach_debit_direct, bust_out
from riskscore.simulate.world import World


def _split(world: World, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each ring works one scheme: two rings in five pull ACH, the rest bust out."""
    ach = world.pop.group[idx] % 5 < 2
    return idx[~ach], idx[ach]


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop = world.rng, world.pop
    groups = pop.group[idx]
    uniq, first = np.unique(groups, return_index=True)
    strike = pop.signup_t[idx][first] + (rng.uniform(3, 25, len(uniq)) * DAY).astype(np.int64)
    start = strike[np.searchsorted(uniq, groups)] + rng.integers(0, 2 * DAY, len(idx))
    start = world.fraud_start_within(idx, start)
    busters, pullers = _split(world, idx)
    pos = {int(a): s for a, s in zip(idx, start, strict=True)}
    bust_out.schedule(world, busters, np.array([pos[int(a)] for a in busters], np.int64))
    ach_debit_direct.schedule(world, pullers, np.array([pos[int(a)] for a in pullers], np.int64))


def act(world: World, net: Network, idx: np.ndarray) -> None:
    busters, pullers = _split(world, idx)
    bust_out.act(world, net, busters)
    ach_debit_direct.act(world, net, pullers)
