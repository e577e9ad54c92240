"""Business segments: what normal looks like depends on what an account sells.

A restaurant sells many small tickets and almost never sees a dispute; a travel agency
sells few, large, often cross-border tickets and lives with dispute rates a restaurant
would be closed for; digital goods refund a lot; marketplaces take many small
international charges and pay overseas suppliers. Size scales volume (companies sell
more than sole proprietors). Fraud draws its behaviour from its own segment, so a
rate that is normal in one segment is a warning in another and no single threshold
separates good from bad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskscore.schema import BUSINESS_TYPES
from riskscore.simulate import vocab


@dataclass(frozen=True)
class Segment:
    """Median everyday behaviour of a segment (per account, drawn around these)."""

    name: str
    mccs: tuple[str, ...]
    charge_rate: float  # charges per day
    ticket: float  # median charge, minor units
    refund_p: float  # mean share of charges refunded
    dispute_p: float  # median share of charges disputed
    international_p: float  # mean share of charges from foreign cards
    round_p: float  # share of charges in whole tens
    intl_outbound_p: float  # share of outbound transfers that cross borders (suppliers abroad)


SEGMENTS: tuple[Segment, ...] = (
    Segment("food", ("5812", "5814", "5411"), 0.10, 2_500, 0.004, 0.0004, 0.02, 0.04, 0.02),
    Segment("retail", ("5691", "5941", "5945", "5977", "5732", "5094"), 0.045, 6_000, 0.035,
            0.0015, 0.06, 0.05, 0.08),
    Segment("digital", ("7372", "5816", "5967"), 0.08, 1_500, 0.09, 0.004, 0.35, 0.02, 0.35),
    Segment("travel", ("4722",), 0.015, 60_000, 0.06, 0.012, 0.40, 0.30, 0.45),
    Segment("services", ("7230", "7299", "7392", "8299", "1520", "7349", "7538", "0742", "8011"),
            0.03, 12_000, 0.01, 0.001, 0.03, 0.45, 0.03),
    Segment("regulated", ("5912", "5921", "5993", "6051", "4829"), 0.05, 5_000, 0.015, 0.002,
            0.05, 0.20, 0.10),
    Segment("marketplace", ("5999",), 0.12, 1_800, 0.05, 0.002, 0.45, 0.03, 0.45),
    Segment("charity", ("8398",), 0.02, 5_000, 0.002, 0.0005, 0.05, 0.70, 0.05),
)
NAMES: tuple[str, ...] = tuple(s.name for s in SEGMENTS)
# Volume by size: sole proprietors sell less than companies.
SIZE_VOLUME = {"individual": 0.6, "company": 2.0, "non_profit": 1.0}


def _of_mcc() -> np.ndarray:
    out = np.full(len(vocab.MCCS), -1, np.int8)
    for si, seg in enumerate(SEGMENTS):
        for code in seg.mccs:
            out[[m[0] for m in vocab.MCCS].index(code)] = si
    if (out < 0).any():
        raise ValueError("every MCC in vocab.MCCS needs a segment")
    return out


SEGMENT_OF_MCC: np.ndarray = _of_mcc()


def segment_of(mcc: np.ndarray) -> np.ndarray:
    """Segment index of each account, from its MCC index."""
    return SEGMENT_OF_MCC[mcc]


def profile(field: str, segment: np.ndarray) -> np.ndarray:
    """One segment parameter per account."""
    return np.array([getattr(s, field) for s in SEGMENTS], np.float64)[segment]


def size_volume(business_type: np.ndarray) -> np.ndarray:
    """Volume multiplier of each account's size."""
    return np.array([SIZE_VOLUME[b] for b in BUSINESS_TYPES])[business_type]


def normal_charge_rate(mcc: np.ndarray, business_type: np.ndarray) -> np.ndarray:
    """Charges per day that are ordinary for each account's segment and size: the base a
    typology's burst is measured against (a marketplace seller's normal day is a café's
    burst)."""
    return profile("charge_rate", segment_of(mcc)) * size_volume(business_type)
