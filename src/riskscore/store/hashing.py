"""Raw identifiers to keyed hashes: normalise, then HMAC with the settings' key.

The only way identifiers enter the store. Results are cached per kind (bounded LRU) so
bulk loads hash each distinct value once: devices and IPs repeat across thousands of
logins, and phone parsing costs ~70 µs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any

from riskscore.identifiers import (
    ip_prefix24,
    keyed_hash,
    normalise_address,
    normalise_email,
    normalise_phone,
    normalise_simple,
    normalise_tax_id,
)
from riskscore.settings import Settings, get_settings


def _ip24(raw: str | None) -> str | None:
    return ip_prefix24(normalise_simple(raw))


NORMALISERS: dict[str, Callable[..., str | None]] = {
    "email": normalise_email,  # (raw)
    "phone": normalise_phone,  # (raw, account_country)
    "address": normalise_address,  # (line1, city, postal_code, country)
    "tax_id": normalise_tax_id,
    "bank_account": normalise_simple,
    "device": normalise_simple,
    "ip": normalise_simple,
    "ip24": _ip24,
    "counterparty": normalise_simple,  # the other side of a movement (external account ids)
}
"""Normaliser of each identifier kind the store keeps, taking the raw parts of a value."""

CHANGE_KINDS: dict[str, str] = {"bank_account": "bank_account", "email": "email", "phone": "phone"}
"""Identifier kind of a change's ``new_value``, by ``change_type`` (password has none)."""


def _hash_value(key: bytes, kind: str, *parts: str | None) -> str | None:
    value = NORMALISERS[kind](*parts)
    return None if value is None else keyed_hash(kind, value, key)


class IdentifierHasher:
    """Turns raw identifier parts into ``(kind, hash)`` with one key and per-kind LRU caches
    of ``cache_size`` entries each (bounded memory; hot values such as shared devices stay)."""

    def __init__(self, key: bytes, cache_size: int = 1 << 16) -> None:
        self._key, self._cache_size = key, cache_size
        # The cached functions hold the key, not the hasher: no reference cycle, so a
        # hasher and its caches are freed as soon as it is dropped (a batch job's caches
        # hold ~10^5 entries; left to the cyclic collector, they outlive the job).
        self._cached: dict[str, Callable[..., str | None]] = {
            kind: lru_cache(maxsize=cache_size)(partial(_hash_value, key, kind))
            for kind in NORMALISERS
        }

    def __reduce__(self) -> tuple[type[IdentifierHasher], tuple[bytes, int]]:
        """Pickled as its key and cache size (caches start empty): a batch job's worker
        processes hash with the job's key."""
        return IdentifierHasher, (self._key, self._cache_size)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, cache_size: int = 1 << 16
                      ) -> IdentifierHasher:
        settings = settings or get_settings()
        return cls(settings.hash_key.get_secret_value().encode(), cache_size)

    def hash(self, kind: str, *parts: str | None) -> str | None:
        """Hash of one value of ``kind`` from its raw parts (see :data:`NORMALISERS`);
        ``None`` when the value is missing or does not normalise."""
        return self._cached[kind](*parts)

    def hash_column(self, kind: str, *columns: Sequence[str | None]) -> list[str | None]:
        """:meth:`hash` over parallel columns of raw parts (vectorised bulk form)."""
        return list(map(self._cached[kind], *columns))

    def application(
        self, account: Mapping[str, Any], signup: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """Distinct ``(kind, hash)`` pairs of an application: a contract ``accounts`` row and
        its ``signup_sessions`` row (missing or unparseable values are skipped)."""
        country = account.get("country")
        parts: list[tuple[str, tuple[Any, ...]]] = [
            ("email", (account.get("email"),)),
            ("phone", (account.get("phone"), country)),
            ("address", tuple(account.get(k) for k in ("address_line1", "city", "postal_code"))
             + (country,)),
            ("tax_id", (account.get("tax_id"),)),
            ("bank_account", (account.get("bank_fingerprint"),)),
            ("device", (signup.get("device_id"),)),
            ("ip", (signup.get("ip"),)),
            ("ip24", (signup.get("ip"),)),
        ]
        pairs = ((kind, self.hash(kind, *args)) for kind, args in parts)
        return list(dict.fromkeys((kind, h) for kind, h in pairs if h is not None))

    def digest(self, *parts: str | None) -> str:
        """A keyed hash of raw parts, to key caches of derived values without keeping PII."""
        return keyed_hash("digest", "\x1f".join("" if p is None else p for p in parts),
                          self._key)

    def change_value(
        self, change_type: str, raw: str | None, country: str | None
    ) -> tuple[str, str] | None:
        """``(kind, hash)`` of a change's new value, or ``None`` (password, missing value)."""
        kind = CHANGE_KINDS.get(change_type)
        if kind is None:
            return None
        value = self.hash(kind, raw, country) if kind == "phone" else self.hash(kind, raw)
        return None if value is None else (kind, value)
