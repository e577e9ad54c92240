"""The shared state of one simulation run, filled in stage by stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskscore.simulate.config import SimulationConfig
from riskscore.simulate.events import Ids
from riskscore.simulate.identities import Identities
from riskscore.simulate.population import Population


@dataclass
class Behaviour:
    """Per-account behaviour parameters (one entry per account)."""

    active_end: np.ndarray  # int64: the account stops transacting at this time
    fraud_start: np.ndarray  # int64: -1 for accounts that never turn fraudulent
    fraud_end: np.ndarray  # int64: end of the fraud's active phase (burst, spree), -1 if none
    charge_rate: np.ndarray  # charges per day
    ticket: np.ndarray  # median charge amount, minor units
    refund_p: np.ndarray
    dispute_p: np.ndarray
    international_p: np.ndarray
    round_p: np.ndarray
    intl_outbound_p: np.ndarray  # share of outbound transfers that cross borders
    card_rate: np.ndarray  # issuing card captures per day (0 without a card)
    treasury_rate: np.ndarray  # received credits per day (0 without a financial account)
    sweep_p: np.ndarray  # share of treasury inflows moved on within hours (payroll, sweeps)
    login_rate: np.ndarray
    new_device_p: np.ndarray  # share of logins and changes from a device not seen before
    instant_p: np.ndarray  # chance a payout is instant
    payout_interval: np.ndarray  # days between scheduled payouts
    payout_float: np.ndarray  # balance kept back from payouts, minor units


@dataclass
class PayoutPoints:
    """Times at which an account pays out whatever it can (see ``payouts``)."""

    acct: list[np.ndarray] = field(default_factory=list)
    t: list[np.ndarray] = field(default_factory=list)
    float_: list[np.ndarray] = field(default_factory=list)
    instant_p: list[np.ndarray] = field(default_factory=list)

    def add(self, acct: np.ndarray, t: np.ndarray, float_: np.ndarray | int,
            instant_p: np.ndarray | float) -> None:
        n = len(acct)
        self.acct.append(acct.astype(np.int64))
        self.t.append(t.astype(np.int64))
        self.float_.append(np.broadcast_to(np.asarray(float_, np.int64), (n,)).copy())
        self.instant_p.append(np.broadcast_to(np.asarray(instant_p, np.float64), (n,)).copy())


@dataclass
class World:
    """Everything a stage may read or add to."""

    rng: np.random.Generator
    cfg: SimulationConfig
    pop: Population
    identities: Identities
    behaviour: Behaviour | None = None
    ids: Ids = field(default_factory=Ids)
    movements: list[dict[str, np.ndarray]] = field(default_factory=list)
    logins: list[dict[str, np.ndarray]] = field(default_factory=list)
    changes: list[dict[str, np.ndarray]] = field(default_factory=list)
    payout_points: PayoutPoints = field(default_factory=PayoutPoints)
    # Per fraud account: when the platform learns of it (-1 = never), and its loss.
    label_known: np.ndarray | None = None
    loss: np.ndarray | None = None

    def fraud_start_within(self, idx: np.ndarray, start: np.ndarray) -> np.ndarray:
        """``start`` moved into the window: after signup, and a day before the data ends."""
        latest = np.minimum(start, self.cfg.horizon - 86_400)
        return np.maximum(latest, self.pop.signup_t[idx] + 3_600)

    @property
    def b(self) -> Behaviour:
        if self.behaviour is None:
            raise RuntimeError("behaviour is planned before any stage reads it")
        return self.behaviour
