"""A simulated payments platform: connected accounts, their activity, and fraud.

>>> from riskscore.simulate import SimulationConfig, simulate
>>> tables = simulate(SimulationConfig(n_accounts=500, days=90, seed=1))
>>> sorted(tables)
['accounts', 'changes', 'labels', 'logins', 'movements', 'signup_sessions']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from riskscore.simulate.activity import everyday_movements, plan_behaviour
from riskscore.simulate.config import TYPOLOGIES, SimulationConfig
from riskscore.simulate.identities import build_identities
from riskscore.simulate.labels import assign_labels
from riskscore.simulate.network import build_network, everyday_changes, everyday_logins
from riskscore.simulate.payouts import add_payouts
from riskscore.simulate.population import build_population
from riskscore.simulate.typologies import MECHANISMS
from riskscore.simulate.world import World
from riskscore.simulate.writer import build_tables, write_tables

__all__ = ["STAGES", "SimulationConfig", "TYPOLOGIES", "simulate", "write_tables"]

STAGES: tuple[str, ...] = (
    "population", "identities", "behaviour", "network", "activity", "fraud", "payouts",
    "labels", "tables",
)


def simulate(cfg: SimulationConfig,
             on_stage: Callable[[str], None] | None = None) -> dict[str, pa.Table]:
    """Simulate a platform; returns the contract tables. ``on_stage`` is called as each
    of ``STAGES`` completes (for progress bars)."""
    done = on_stage or (lambda _stage: None)
    rng = np.random.default_rng(cfg.seed)
    pop = build_population(rng, cfg)
    done("population")
    world = World(rng, cfg, pop, build_identities(rng, pop))
    done("identities")
    world.behaviour = plan_behaviour(world)
    members = {name: pop.of(name) for name in TYPOLOGIES}
    for name, mechanism in MECHANISMS.items():
        if len(members[name]):
            mechanism.plan(world, members[name])
    done("behaviour")
    net = build_network(world)
    everyday_logins(world, net)
    everyday_changes(world, net)
    done("network")
    everyday_movements(world)
    done("activity")
    for name, mechanism in MECHANISMS.items():
        if len(members[name]):
            mechanism.act(world, net, members[name])
    done("fraud")
    add_payouts(world)
    done("payouts")
    assign_labels(world)
    done("labels")
    tables = build_tables(world, net)
    done("tables")
    return tables
