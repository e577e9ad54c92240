"""Column buffers for generated event rows, and the Poisson process that times them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from riskscore.schema import CAPTURE_KINDS, MOVEMENT_TYPES
from riskscore.simulate.vocab import CARD_MERCHANT_CATEGORIES

MT = {name: i for i, name in enumerate(MOVEMENT_TYPES)}
CK = {name: i for i, name in enumerate(CAPTURE_KINDS)}
MC = {name: i for i, name in enumerate(CARD_MERCHANT_CATEGORIES)}
RETURN_CODES: tuple[str, ...] = ("R01", "R10", "R29", "R02", "R03")
RC = {name: i for i, name in enumerate(RETURN_CODES)}

# Internal movement columns: integer codes, -1 for null; the writer turns them into strings.
MOVEMENT_COLUMNS: dict[str, type] = {
    "mid": np.int64,  # unique id
    "acct": np.int64,  # account index
    "t": np.int64,  # seconds since start
    "type": np.int8,
    "amount": np.int64,
    "failed": np.bool_,
    "instant": np.bool_,
    "international": np.bool_,
    "counterparty": np.int64,
    "merchant_category": np.int8,
    "related": np.int64,  # mid of the related movement
    "capture_kind": np.int8,
    "return_code": np.int8,
}


class Ids:
    """Allocates unique movement ids in generation order (deterministic)."""

    def __init__(self) -> None:
        self._next = 0

    def take(self, n: int) -> np.ndarray:
        ids = np.arange(self._next, self._next + n, dtype=np.int64)
        self._next += n
        return ids


def movements(ids: Ids, acct: np.ndarray, t: np.ndarray, type_: str, amount: np.ndarray,
              **extra: np.ndarray | int | bool) -> dict[str, np.ndarray]:
    """A block of movement rows of one type; unspecified columns get their null value."""
    n = len(acct)
    block: dict[str, np.ndarray] = {
        "mid": ids.take(n),
        "acct": acct.astype(np.int64),
        "t": t.astype(np.int64),
        "type": np.full(n, MT[type_], np.int8),
        "amount": np.maximum(amount.astype(np.int64), 1),
    }
    for name, dtype in MOVEMENT_COLUMNS.items():
        if name in block:
            continue
        value = extra.pop(name, None)
        if value is None:
            null = False if dtype is np.bool_ else -1
            block[name] = np.full(n, null, dtype)
        else:
            block[name] = np.broadcast_to(np.asarray(value, dtype), (n,)).copy()
    if extra:
        raise TypeError(f"unknown movement columns: {sorted(extra)}")
    return block


def concat(blocks: Iterable[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate column blocks with identical keys."""
    blocks = [b for b in blocks if len(next(iter(b.values()))) > 0]
    if not blocks:
        raise ValueError("no rows to concatenate")
    if len(blocks) == 1:
        return blocks[0]
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def poisson_times(rng: np.random.Generator, acct: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                  rate_per_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event times of independent Poisson processes, one per account, on ``[t0, t1)``.

    Returns ``(account_index, time)`` arrays, one entry per event.
    """
    span = np.maximum(t1 - t0, 0)
    counts = rng.poisson(rate_per_day * span / 86_400.0)
    owner = np.repeat(acct, counts)
    start = np.repeat(t0, counts)
    width = np.repeat(span, counts)
    return owner, start + (rng.random(len(owner)) * width).astype(np.int64)


def grid(acct: np.ndarray, start: np.ndarray, end: np.ndarray,
         step: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Regular times ``start + step, start + 2*step, ...`` before ``end``, per account."""
    step = np.broadcast_to(np.asarray(step, np.int64), acct.shape)
    counts = np.maximum((end - start - 1) // step, 0).astype(np.int64)
    owner = np.repeat(acct, counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    return owner, np.repeat(start, counts) + k * np.repeat(step, counts)


def lognormal_amounts(rng: np.random.Generator, median: np.ndarray, sigma: float) -> np.ndarray:
    """Amounts in minor units scattered around per-row medians."""
    return np.maximum(np.round(median * rng.lognormal(0.0, sigma, len(median))), 50).astype(
        np.int64)


def round_to(amount: np.ndarray, mask: np.ndarray, unit: int) -> np.ndarray:
    """Round the masked amounts to whole ``unit`` (e.g. 10_000 minor units = 100.00)."""
    rounded = np.maximum(np.round(amount / unit), 1).astype(np.int64) * unit
    return np.where(mask, rounded, amount)
