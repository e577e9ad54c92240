"""Knobs of the simulated platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

TYPOLOGIES: tuple[str, ...] = (
    "bust_out",
    "account_takeover",
    "ach_debit_direct",
    "ach_third_party",
    "force_capture",
    "dispute_heavy",
    "ring",
    "signup_burst",
)

DEFAULT_MIX: dict[str, float] = {
    "bust_out": 0.22,
    "account_takeover": 0.14,
    "ach_debit_direct": 0.12,
    "ach_third_party": 0.10,
    "force_capture": 0.07,
    "dispute_heavy": 0.11,
    "ring": 0.14,
    "signup_burst": 0.10,
}

# Share of each typology whose onboarding application looks like a good account's.
# Account takeover victims are good accounts, so their onboarding is always clean.
DEFAULT_CLEAN_SHARE: dict[str, float] = {
    "bust_out": 0.40,
    "account_takeover": 1.00,
    "ach_debit_direct": 0.35,
    "ach_third_party": 0.45,
    "force_capture": 0.50,
    "dispute_heavy": 0.80,
    "ring": 0.20,
    "signup_burst": 0.05,
}


@dataclass(frozen=True)
class SimulationConfig:
    """Size, time span and fraud make-up of a simulated platform.

    ``fraud_rate`` is the share of accounts that are (or become) fraudulent; ``mix``
    splits it across typologies.
    """

    n_accounts: int = 10_000
    days: int = 365
    seed: int = 0
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    fraud_rate: float = 0.02
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    clean_share: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CLEAN_SHARE))

    def __post_init__(self) -> None:
        if self.n_accounts < 100:
            raise ValueError(f"n_accounts must be at least 100, got {self.n_accounts}")
        if self.days < 60:
            raise ValueError(f"days must be at least 60, got {self.days}")
        if not 0.0 <= self.fraud_rate <= 0.2:
            raise ValueError(f"fraud_rate must be within [0, 0.2], got {self.fraud_rate}")
        unknown = set(self.mix) - set(TYPOLOGIES)
        if unknown:
            raise ValueError(f"mix has unknown typologies: {sorted(unknown)}")

    @property
    def horizon(self) -> int:
        """Length of the simulated window in seconds."""
        return self.days * 86_400
