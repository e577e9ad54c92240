"""Identifier normalisation and keyed hashing.

Duplicate matching compares identifiers *after* normalisation (gmail dots and plus
tags, E.164 phones, canonical addresses) and only ever as keyed HMAC hashes, so the
operational store never keeps raw PII. Batch features and the entity store both use
these functions, so a match found in one is found in the other.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers

IDENTIFIER_KINDS: tuple[str, ...] = (
    "email",
    "phone",
    "address",
    "tax_id",
    "bank_account",
    "device",
    "ip",
)
CLUSTER_KINDS: tuple[str, ...] = ("email", "phone", "address", "tax_id", "bank_account", "device")
"""Kinds that link accounts into clusters by default. IPs and /24s are left out: carrier-grade
NAT, coworking spaces and mobile networks share them between unrelated accounts."""

FREE_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "outlook.com",
        "hotmail.com", "hotmail.co.uk", "hotmail.fr", "live.com", "msn.com", "icloud.com",
        "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de",
        "orange.fr", "free.fr", "laposte.net", "mail.com", "zoho.com", "yandex.com",
    }
)
DISPOSABLE_EMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com",
        "tempmail.dev", "trashmail.com", "sharklasers.com", "getnada.com", "dispostable.com",
        "throwawaymail.com",
    }
)
_GMAIL = frozenset({"gmail.com", "googlemail.com"})

_ADDRESS_ABBREVIATIONS = {
    "street": "st", "str": "st", "avenue": "ave", "av": "ave", "road": "rd", "boulevard": "blvd",
    "drive": "dr", "lane": "ln", "court": "ct", "place": "pl", "suite": "ste", "apartment": "apt",
    "north": "n", "south": "s", "east": "e", "west": "w", "rue": "rue", "strasse": "str",
    "floor": "fl", "unit": "unit", "number": "no",
}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")


def normalise_email(raw: str | None) -> str | None:
    """Lower-case, trim, drop plus tags, and drop dots in gmail local parts.

    >>> normalise_email("  John.Smith+shop@GoogleMail.com ")
    'johnsmith@gmail.com'
    """
    if not isinstance(raw, str):
        return None
    email = raw.strip().lower()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or not domain:
        return None
    local = local.split("+", 1)[0]
    if domain in _GMAIL:
        domain = "gmail.com"
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else None


def email_domain(raw: str | None) -> str | None:
    """The domain part of an email after normalisation (``None`` when not an email)."""
    email = normalise_email(raw)
    return email.rpartition("@")[2] if email else None


@lru_cache(maxsize=65536)
def parse_phone(raw: str | None, region: str | None) -> tuple[str | None, str | None, bool]:
    """Return ``(e164, phone_country, is_valid)``; ``region`` is the default for national
    numbers (the account's country)."""
    if not isinstance(raw, str) or not raw.strip():
        return None, None, False
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None, None, False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    country = phonenumbers.region_code_for_number(number)
    # is_valid_number(number) is exactly this, finding the region a second time.
    return e164, country, phonenumbers.is_valid_number_for_region(number, country)


def normalise_phone(raw: str | None, region: str | None = None) -> str | None:
    """E.164 form of a phone number, or ``None`` when it cannot be parsed.

    >>> normalise_phone("(415) 555-2671", "US")
    '+14155552671'
    """
    return parse_phone(raw, region)[0]


def normalise_address(
    line1: str | None, city: str | None, postal_code: str | None, country: str | None
) -> str | None:
    """Canonical address: lower case, punctuation dropped, common words abbreviated.

    >>> normalise_address("12  Market Street, Suite 4", "San Francisco", "94103", "US")
    '12 market st ste 4|san francisco|94103|us'
    """
    if not isinstance(line1, str) or not line1.strip():
        return None

    def canon(part: str | None) -> str:
        words = _NON_ALNUM.sub(" ", part.lower() if isinstance(part, str) else "").split()
        return " ".join(_ADDRESS_ABBREVIATIONS.get(w, w) for w in words)

    postal = postal_code.replace(" ", "").lower() if isinstance(postal_code, str) else ""
    return "|".join((canon(line1), canon(city), postal,
                     country.lower() if isinstance(country, str) else ""))


def normalise_tax_id(raw: str | None) -> str | None:
    """Tax id with separators dropped, upper case.

    >>> normalise_tax_id(" 12-3456789 ")
    '123456789'
    """
    if not isinstance(raw, str):
        return None
    value = re.sub(r"[^0-9A-Za-z]", "", raw).upper()
    return value or None


def normalise_simple(raw: str | None) -> str | None:
    """Trimmed value for identifiers that are already canonical (device, bank fingerprint, IP)."""
    if not isinstance(raw, str):
        return None
    value = _SPACES.sub("", raw)
    return value or None


def ip_prefix24(ip: str | None) -> str | None:
    """The /24 network of an IPv4 address (``'203.0.113'``)."""
    if not isinstance(ip, str) or not ip:
        return None
    head, sep, _ = ip.strip().rpartition(".")
    return head if sep else None


@lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 state with ``key`` absorbed: copying it is cheaper than keying anew."""
    return hmac.new(key, digestmod=hashlib.sha256)


def keyed_hash(kind: str, value: str, key: bytes) -> str:
    """HMAC-SHA256 of ``kind:value``; the kind prefix keeps kinds from colliding."""
    mac = _keyed(key).copy()
    mac.update(f"{kind}:{value}".encode())
    return mac.hexdigest()[:32]


def hash_many(kind: str, values: Iterable[str | None], key: bytes) -> list[str | None]:
    """Keyed hashes of many normalised values (``None`` stays ``None``)."""
    return [None if v is None else keyed_hash(kind, v, key) for v in values]
