"""Account takeover: a good account's credentials are phished; the attacker logs in
from a new device and IP, changes the password or email and the bank account, then
pays the balance out at once. The owner reports it days later."""

from __future__ import annotations

import numpy as np

from riskscore.simulate.network import IPT, Network, add_changes, new_devices, new_ips
from riskscore.simulate.population import DAY, HOUR
from riskscore.simulate.world import World


def plan(world: World, idx: np.ndarray) -> None:
    rng, pop, b = world.rng, world.pop, world.b
    earliest = pop.signup_t[idx] + 30 * DAY
    span = np.maximum(world.cfg.horizon - 5 * DAY - earliest, DAY)
    b.fraud_start[idx] = world.fraud_start_within(
        idx, earliest + (rng.random(len(idx)) * span).astype(np.int64))
    b.fraud_end[idx] = b.fraud_start[idx] + 2 * DAY
    b.active_end[idx] = world.cfg.horizon
    b.charge_rate[idx] = np.maximum(b.charge_rate[idx], rng.lognormal(np.log(0.15), 0.6, len(idx)))


def act(world: World, net: Network, idx: np.ndarray) -> None:
    rng, pop, b = world.rng, world.pop, world.b
    n = len(idx)
    t0 = b.fraud_start[idx]
    device = new_devices(world, net, n)
    kind = rng.choice([-2, IPT["datacenter"], IPT["proxy"], IPT["residential"]], n,
                      p=[0.4, 0.25, 0.1, 0.25])
    ip = new_ips(rng, net, pop.country[idx], kind)
    # Credential stuffing first: a few failed attempts, then the successful login.
    fails = rng.integers(0, 5, n)
    fa = np.repeat(np.arange(n), fails)
    world.logins.append({
        "acct": idx[fa], "t": t0[fa] - rng.integers(60, 6 * HOUR, len(fa)),
        "device": device[fa], "ip": ip[fa], "success": np.zeros(len(fa), bool)})
    world.logins.append({"acct": idx, "t": t0, "device": device, "ip": ip,
                         "success": np.ones(n, bool)})
    lock_out = rng.random(n) < 0.6
    add_changes(world, idx[lock_out], t0[lock_out] + rng.integers(120, 3 * HOUR, lock_out.sum()),
                "password", device[lock_out], ip[lock_out])
    email = rng.random(n) < 0.35
    add_changes(world, idx[email], t0[email] + rng.integers(300, 4 * HOUR, email.sum()),
                "email", device[email], ip[email])
    t_bank = t0 + rng.integers(600, 6 * HOUR, n)
    add_changes(world, idx, t_bank, "bank_account", device, ip)
    t_payout = np.minimum(t_bank + rng.integers(HOUR // 4, 36 * HOUR, n), world.cfg.horizon - 1)
    world.payout_points.add(idx, t_payout, 0, 0.85)
