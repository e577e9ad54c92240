"""Devices and IP addresses: signup sessions, logins and sensitive changes.

Strings are pooled: an event row stores an index into the device or IP pool, and the
writer turns indices into strings once, so tens of millions of rows stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from riskscore.schema import CHANGE_TYPES, IP_TYPES
from riskscore.simulate import strings as S
from riskscore.simulate import vocab
from riskscore.simulate.events import poisson_times
from riskscore.simulate.population import DAY, GOOD, HOUR, T
from riskscore.simulate.world import World

IPT = {name: i for i, name in enumerate(IP_TYPES)}
CT = {name: i for i, name in enumerate(CHANGE_TYPES)}
COUNTRY_CODES = list(vocab.COUNTRIES) + list(vocab.FOREIGN_COUNTRIES) + ["NL"]


@dataclass
class Pool:
    """Append-only pool of generated strings (devices) or IPs with their type and country."""

    values: list[pa.Array] = field(default_factory=list)
    ip_type: list[np.ndarray] = field(default_factory=list)
    country: list[np.ndarray] = field(default_factory=list)
    size: int = 0

    def add(self, values: pa.Array, ip_type: np.ndarray | None = None,
            country: np.ndarray | None = None) -> np.ndarray:
        n = len(values)
        self.values.append(values)
        self.ip_type.append(np.full(n, -1, np.int8) if ip_type is None else ip_type)
        self.country.append(np.full(n, -1, np.int16) if country is None else country)
        idx = np.arange(self.size, self.size + n, dtype=np.int64)
        self.size += n
        return idx

    def strings(self) -> pa.Array:
        return pa.concat_arrays(self.values)

    def types(self) -> np.ndarray:
        return np.concatenate(self.ip_type)

    def countries(self) -> np.ndarray:
        return np.concatenate(self.country)


@dataclass
class Network:
    devices: Pool
    ips: Pool
    device0: np.ndarray  # per account: main device (the signup device)
    device1: np.ndarray  # per account: second device (phone)
    home_ip: np.ndarray  # per account: home or office IP
    signup_ip: np.ndarray
    session_started: np.ndarray


def new_devices(world: World, net: Network, n: int) -> np.ndarray:
    return net.devices.add(S.join("dev_", S.tokens(world.rng, n, 16, S.HEX)))


def new_ips(rng: np.random.Generator, net: Network, country: np.ndarray,
            kind: np.ndarray) -> np.ndarray:
    """IPs of the given kinds; residential and mobile ones geolocate to ``country``."""
    n = len(country)
    o1 = np.empty(n, np.int64)
    o2 = np.empty(n, np.int64)
    geo = country.astype(np.int16).copy()
    for ci, code in enumerate(vocab.COUNTRIES):
        for k, table in ((IPT["residential"], vocab.RESIDENTIAL_PREFIXES),
                         (IPT["mobile"], vocab.MOBILE_PREFIXES)):
            rows = np.flatnonzero((country == ci) & (kind == k))
            pref = np.array(table[code])[rng.integers(0, len(table[code]), len(rows))]
            o1[rows], o2[rows] = pref[:, 0], pref[:, 1]
    for k in (IPT["datacenter"], IPT["proxy"]):
        rows = np.flatnonzero(kind == k)
        j = rng.integers(0, len(vocab.DATACENTER_PREFIXES), len(rows))
        pref = np.array(vocab.DATACENTER_PREFIXES)[j]
        o1[rows], o2[rows] = pref[:, 0], pref[:, 1]
        geo[rows] = [COUNTRY_CODES.index(vocab.DATACENTER_COUNTRIES[x]) for x in j]
    foreign = np.flatnonzero(kind == -2)  # residential abroad (travel, or a foreign attacker)
    j = rng.integers(0, len(vocab.FOREIGN_PREFIXES), len(foreign))
    pref = np.array(vocab.FOREIGN_PREFIXES)[j]
    o1[foreign], o2[foreign] = pref[:, 0], pref[:, 1]
    geo[foreign] = len(vocab.COUNTRIES) + j
    ip_type = np.where(kind == -2, IPT["residential"], kind).astype(np.int8)
    octets = (o1, o2, rng.integers(0, 256, n), rng.integers(1, 255, n))
    return net.ips.add(S.ipv4(octets), ip_type, geo)


def _mixture(rng: np.random.Generator, n: int, p: list[float]) -> np.ndarray:
    """Kinds: residential, mobile, datacenter, proxy, foreign-residential (-2)."""
    kinds = np.array([IPT["residential"], IPT["mobile"], IPT["datacenter"], IPT["proxy"], -2])
    return kinds[rng.choice(5, n, p=p)]


def build_network(world: World) -> Network:
    """Devices and IPs of every account, and where each signup came from."""
    rng, pop = world.rng, world.pop
    n = pop.n
    net = Network(Pool(), Pool(), np.empty(0), np.empty(0), np.empty(0), np.empty(0),
                  np.empty(0))
    net.device0 = new_devices(world, net, n)
    net.device1 = new_devices(world, net, n)
    net.home_ip = new_ips(rng, net, pop.country, np.full(n, IPT["residential"]))
    # Coworking spaces: a few good accounts share an office network.
    good = np.flatnonzero(pop.typology == GOOD)
    cowork = good[rng.random(len(good)) < 0.03]
    hubs = new_ips(rng, net, np.zeros(max(1, n // 400), np.int8),
                   np.full(max(1, n // 400), IPT["residential"]))
    net.home_ip[cowork] = hubs[rng.integers(0, len(hubs), len(cowork))]

    risky = pop.risky
    kind = np.where(risky, _mixture(rng, n, [0.35, 0.15, 0.25, 0.15, 0.10]),
                    _mixture(rng, n, [0.74, 0.20, 0.035, 0.01, 0.015]))
    signup_ip = net.home_ip.copy()
    away = kind != IPT["residential"]
    signup_ip[away] = new_ips(rng, net, pop.country[away], kind[away])
    # Repeat offenders who reuse a device.
    src = world.identities.repeat_source
    reuse = np.flatnonzero(src >= 0)
    reuse = reuse[rng.random(len(reuse)) < 0.2]
    net.device0[reuse] = net.device0[src[reuse]]
    for g in np.unique(pop.group[pop.group >= 0]):
        members = np.flatnonzero(pop.group == g)
        burst = pop.typology[members[0]] == T["signup_burst"]
        block_kind = IPT["datacenter"] if burst or rng.random() < 0.5 else IPT["proxy"]
        block = new_ips(rng, net, pop.country[members[:1]], np.array([block_kind]))[0]
        ips = _ips_in_subnet(rng, net, len(members))
        same = rng.random(len(members)) < 0.4
        ips[same] = block
        signup_ip[members] = ips
        farm = net.device0[members[: max(1, len(members) // 4)]]
        shared = rng.random(len(members)) < (0.3 if burst else 0.6)
        net.device0[members[shared]] = farm[rng.integers(0, len(farm), shared.sum())]
    _enterprise_offices(world, net, signup_ip)
    net.signup_ip = signup_ip
    duration = rng.lognormal(np.log(420), 0.6, n)
    batch = pop.batch >= 0
    duration[batch] = rng.lognormal(np.log(150), 0.5, batch.sum())  # a practised admin
    scripted = pop.typology == T["signup_burst"]
    duration[scripted] = rng.uniform(25, 120, scripted.sum())
    net.session_started = pop.signup_t - duration.astype(np.int64)
    return net


def _enterprise_offices(world: World, net: Network, signup_ip: np.ndarray) -> None:
    """A chain's batch signs up from its head office network on a few admin laptops."""
    rng, pop = world.rng, world.pop
    for b in np.unique(pop.batch[pop.batch >= 0]):
        members = np.flatnonzero(pop.batch == b)
        office = new_ips(rng, net, pop.country[members[:1]], np.array([IPT["residential"]]))
        ips = _ips_in_subnet(rng, net, len(members))
        ips[rng.random(len(members)) < 0.8] = office[0]
        signup_ip[members] = ips
        laptops = net.device0[members[:rng.integers(1, 4)]]
        admin = rng.random(len(members)) < 0.7
        net.device0[members[admin]] = laptops[rng.integers(0, len(laptops), admin.sum())]


def _ips_in_subnet(rng: np.random.Generator, net: Network, n: int) -> np.ndarray:
    """``n`` IPs in the /24 of the IP most recently added to the pool (a ring's subnet)."""
    head = net.ips.values[-1][-1].as_py().rsplit(".", 1)[0]
    ip_type, country = net.ips.ip_type[-1][-1], net.ips.country[-1][-1]
    values = pa.array([f"{head}.{o}" for o in rng.integers(1, 255, n)], pa.string())
    return net.ips.add(values, np.full(n, ip_type, np.int8), np.full(n, country, np.int16))


def everyday_logins(world: World, net: Network) -> None:
    """Dashboard logins: mostly known devices from home or mobile, now and then a new one."""
    rng, pop, b = world.rng, world.pop, world.b
    a, t = poisson_times(rng, np.arange(pop.n), pop.signup_t + HOUR, b.active_end, b.login_rate)
    n = len(a)
    r = rng.random(n)
    device = np.where(r < 0.66, net.device0[a], net.device1[a])
    fresh = rng.random(n) < b.new_device_p[a]
    device[fresh] = new_devices(world, net, fresh.sum())
    r = rng.random(n)
    ip = net.home_ip[a].copy()
    mobile = r > 0.66
    ip[mobile] = new_ips(rng, net, pop.country[a[mobile]], np.full(mobile.sum(), IPT["mobile"]))
    vpn = r > 0.975
    ip[vpn] = new_ips(rng, net, pop.country[a[vpn]], np.full(vpn.sum(), IPT["datacenter"]))
    world.logins.append({"acct": a, "t": t, "device": device, "ip": ip,
                         "success": rng.random(n) > 0.03})


def everyday_changes(world: World, net: Network) -> None:
    """Owners change bank accounts, emails, passwords and phones now and then."""
    rng, pop, b = world.rng, world.pop, world.b
    rates = {"bank_account": 0.0012, "email": 0.0006, "password": 0.002, "phone": 0.0004}
    for change, rate in rates.items():
        a, t = poisson_times(rng, np.arange(pop.n), pop.signup_t + DAY, b.active_end,
                             np.full(pop.n, rate))
        n = len(a)
        device = np.where(rng.random(n) < 0.6, net.device0[a], net.device1[a])
        fresh = rng.random(n) < 2 * b.new_device_p[a]  # a new laptop, a new hire
        device[fresh] = new_devices(world, net, fresh.sum())
        ip = np.where(rng.random(n) < 0.85, net.home_ip[a], net.signup_ip[a])
        add_changes(world, a, t, change, device, ip)


def add_changes(world: World, acct: np.ndarray, t: np.ndarray, change: str,
                device: np.ndarray, ip: np.ndarray) -> np.ndarray:
    """Record changes of one type; returns the new values (bank fingerprints, emails...)."""
    rng = world.rng
    n = len(acct)
    if change == "bank_account":
        value = np.asarray(S.tokens(rng, n, 16).to_numpy(zero_copy_only=False), dtype=object)
    elif change == "email":
        local = S.tokens(rng, n, 8, b"abcdefghijklmnopqrstuvwxyz").to_numpy(zero_copy_only=False)
        value = np.array([f"{x}@gmail.com" for x in local], dtype=object)
    elif change == "phone":
        value = np.array([f"+1{x}" for x in rng.integers(2_012_000_000, 9_899_999_999, n)],
                         dtype=object)
    else:
        value = np.full(n, None, dtype=object)
    world.changes.append({"acct": acct, "t": t, "change_type": np.full(n, CT[change], np.int8),
                          "device": device, "ip": ip, "new_value": value})
    return value
