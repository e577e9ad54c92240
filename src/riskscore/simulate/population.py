"""Who signs up, when, and which accounts are (or will become) fraudulent."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from riskscore.schema import BUSINESS_TYPES
from riskscore.simulate import vocab
from riskscore.simulate.config import TYPOLOGIES, SimulationConfig

DAY = 86_400
HOUR = 3_600
GOOD = -1
T = {name: i for i, name in enumerate(TYPOLOGIES)}
UTC_OFFSET_HOURS = {"US": -6, "CA": -5, "GB": 0, "FR": 1, "DE": 1}
GROUP_TYPOLOGIES = ("ring", "signup_burst")
ENTERPRISE_SHARE = 0.015  # good accounts onboarded in a chain's batch


@dataclass
class Population:
    """Account-level arrays, one entry per account, sorted by signup time."""

    signup_t: np.ndarray  # int64 seconds since the simulation start
    country: np.ndarray  # int8 index into vocab.COUNTRIES
    mcc: np.ndarray  # int16 index into vocab.MCCS
    business_type: np.ndarray  # int8 index into schema.BUSINESS_TYPES
    typology: np.ndarray  # int8 index into TYPOLOGIES, GOOD for good accounts
    clean: np.ndarray  # bool: onboarding looks like a good account's
    group: np.ndarray  # int32 ring / burst id, -1 when none
    batch: np.ndarray  # int32 enterprise onboarding batch id (good accounts), -1 when none

    @property
    def n(self) -> int:
        return len(self.signup_t)

    @property
    def risky(self) -> np.ndarray:
        """Fraud whose onboarding shows (some) warning signs."""
        return (self.typology != GOOD) & ~self.clean

    def of(self, typology: str) -> np.ndarray:
        """Indices of accounts of one typology."""
        return np.flatnonzero(self.typology == T[typology])

    def reorder(self, order: np.ndarray) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name)[order])


def _signup_times(rng: np.random.Generator, cfg: SimulationConfig, n: int,
                  country: np.ndarray) -> np.ndarray:
    """Daily volume grows over the window, dips at weekends and spikes on campaign days."""
    days = np.arange(cfg.days)
    weekday = (days + cfg.start.weekday()) % 7
    weights = (1.0 + 1.2 * days / cfg.days) * np.where(weekday >= 5, 0.65, 1.0)
    for _ in range(max(1, cfg.days // 45)):  # benign marketing campaigns
        d0 = rng.integers(0, cfg.days)
        weights[d0:d0 + rng.integers(1, 4)] *= rng.uniform(2.0, 4.5)
    day = rng.choice(cfg.days, size=n, p=weights / weights.sum())
    local_hour = np.clip(rng.normal(13.5, 3.8, n), 0, 23.999)
    offsets = np.array([UTC_OFFSET_HOURS[c] for c in vocab.COUNTRIES])[country]
    seconds = ((local_hour - offsets) * HOUR).astype(np.int64)
    return np.clip(day * DAY + seconds, 0, cfg.horizon - 1)


def _group_sizes(rng: np.random.Generator, total: int, low: int, high: int) -> list[int]:
    sizes: list[int] = []
    while total > 0:
        size = int(min(total, rng.integers(low, high + 1)))
        sizes.append(size)
        total -= size
    return sizes


def _enterprise_batches(rng: np.random.Generator, cfg: SimulationConfig, typology: np.ndarray,
                        signup_t: np.ndarray, country: np.ndarray, mcc: np.ndarray,
                        business_type: np.ndarray) -> np.ndarray:
    """Franchises and chains onboard their locations in one sitting from head office: tens
    to hundreds of good company accounts within hours, from one office network and a few
    admin laptops. Far more signups than a ring, and legitimate."""
    batch = np.full(len(typology), -1, dtype=np.int32)
    good = np.flatnonzero(typology == GOOD)
    members = rng.permutation(good[rng.random(len(good)) < ENTERPRISE_SHARE])
    start = 0
    business_days = np.flatnonzero((np.arange(cfg.days - 30) + cfg.start.weekday()) % 7 < 5)
    for b, size in enumerate(_group_sizes(rng, len(members), 25, 150)):
        ids = members[start:start + size]
        start += size
        day = rng.choice(business_days)
        hour = rng.uniform(8, 13) - UTC_OFFSET_HOURS[vocab.COUNTRIES[country[ids[0]]]]
        signup_t[ids] = int(day * DAY + hour * HOUR) + np.sort(rng.integers(0, 5 * HOUR, size))
        country[ids], mcc[ids] = country[ids[0]], mcc[ids[0]]
        non_profit = business_type[ids[0]] == BUSINESS_TYPES.index("non_profit")
        business_type[ids] = business_type[ids[0]] if non_profit else BUSINESS_TYPES.index(
            "company")
        batch[ids] = b
    return batch


def build_population(rng: np.random.Generator, cfg: SimulationConfig) -> Population:
    """Draw the account population and assign fraud typologies."""
    n = cfg.n_accounts
    country = rng.choice(len(vocab.COUNTRIES), size=n, p=vocab.COUNTRY_WEIGHTS).astype(np.int8)
    signup_t = _signup_times(rng, cfg, n, country)
    high_risk_mcc = np.array([m[4] for m in vocab.MCCS])
    mcc_weights = np.where(high_risk_mcc, 0.4, 1.0)
    mcc = rng.choice(len(vocab.MCCS), size=n, p=mcc_weights / mcc_weights.sum()).astype(np.int16)
    business_type = rng.choice(3, size=n, p=[0.55, 0.42, 0.03]).astype(np.int8)
    business_type[mcc == [i for i, m in enumerate(vocab.MCCS) if m[0] == "8398"][0]] = 2
    typology = np.full(n, GOOD, dtype=np.int8)
    group = np.full(n, -1, dtype=np.int32)

    total = sum(cfg.mix.values())
    counts = {t: int(round(n * cfg.fraud_rate * cfg.mix.get(t, 0.0) / total)) for t in TYPOLOGIES}
    pool = rng.permutation(n)
    cursor = 0
    group_id = 0
    for name in TYPOLOGIES:
        members = pool[cursor:cursor + counts[name]]
        cursor += counts[name]
        typology[members] = T[name]
        if name in GROUP_TYPOLOGIES:
            low, high, spread = (3, 12, 36 * HOUR) if name == "ring" else (8, 30, 2 * HOUR)
            start = 0
            for size in _group_sizes(rng, len(members), low, high):
                ids = members[start:start + size]
                start += size
                center = rng.integers(0, cfg.horizon - 30 * DAY)
                signup_t[ids] = center + np.sort(rng.integers(0, spread, size))
                country[ids] = country[ids[0]]
                group[ids] = group_id
                group_id += 1

    batch = _enterprise_batches(rng, cfg, typology, signup_t, country, mcc, business_type)

    # Takeover victims are good accounts at onboarding; they need time to build history.
    ato = typology == T["account_takeover"]
    signup_t[ato] = rng.integers(0, cfg.horizon - 45 * DAY, ato.sum())
    clean_share = np.array([cfg.clean_share.get(t, 0.0) for t in TYPOLOGIES])
    clean = np.ones(n, dtype=bool)
    fraud = typology != GOOD
    clean[fraud] = rng.random(fraud.sum()) < clean_share[typology[fraud]]
    # Risky fraud skews towards high-risk categories; clean fraud does not.
    risky = fraud & ~clean
    swap = risky & (rng.random(n) < 0.35)
    risky_mccs = np.flatnonzero(high_risk_mcc)
    mcc[swap] = rng.choice(risky_mccs, swap.sum())

    pop = Population(signup_t, country, mcc, business_type, typology, clean, group, batch)
    pop.reorder(np.argsort(signup_t, kind="stable"))
    return pop
