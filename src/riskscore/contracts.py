"""Pydantic models at the edges: the onboarding application in, the decision out.

``Application`` is what a platform's onboarding flow POSTs to the scoring API; it maps onto
the ``accounts`` and ``signup_sessions`` rows of the data contract (``schema.py``) with
:meth:`Application.to_records`. ``Decision`` is what every scoring path returns: the
action, the payout delay and the reasons behind them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal

import pytz
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from riskscore.schema import BUSINESS_TYPES, IP_TYPES, VERIFICATION_STATUSES
from riskscore.store.hashing import IdentifierHasher


def _country(value: str) -> str:
    if value not in pytz.country_names:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=2, max_length=2),
    AfterValidator(_country),
]
"""ISO 3166-1 alpha-2 country code (case-insensitive on input, upper case after)."""


def _text(max_length: int, min_length: int = 1) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length,
                                            max_length=max_length)]


Name = _text(200)
ShortText = _text(64)
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=2048,
                                       pattern=r"^\S+$")]
Count = Annotated[int, Field(strict=True, ge=0, le=10_000)]

MAX_PROFILES = 20
MAX_SESSION_SECONDS = 7 * 86_400


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Business(_Model):
    """The business being onboarded."""

    name: Name = Field(description="Business or trading name as typed by the applicant.")
    type: Literal[BUSINESS_TYPES] = Field(
        description="Legal form: `individual`, `company` or `non_profit`.")
    mcc: Annotated[str, StringConstraints(pattern=r"^\d{4}$")] = Field(
        description="Merchant category code, 4 digits.")
    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country of the business.")
    website: Url | None = Field(None, description="Business website as typed.")
    tax_id: ShortText | None = Field(None, description="Tax id (EIN, VAT, SIREN...).")
    licence_number: ShortText | None = Field(
        None, description="Business licence number, where the industry needs one.")


class Representative(_Model):
    """The person who opens the account for the business."""

    first_name: Name
    last_name: Name
    date_of_birth: date | None = Field(None, description="Date of birth (ISO date).")

    @model_validator(mode="after")
    def _plausible_birth(self) -> Representative:
        if self.date_of_birth is not None and not (
                date(1900, 1, 1) <= self.date_of_birth <= datetime.now(UTC).date()):
            raise ValueError("date_of_birth must be between 1900-01-01 and today")
        return self


class Contact(_Model):
    email: EmailStr = Field(description="Contact email; validated, kept as typed otherwise.")
    phone: _text(32) | None = Field(None, description="Phone in any format (E.164 best).")


class Address(_Model):
    line1: _text(200)
    city: _text(100) | None = None
    postal_code: _text(20) | None = None


class BankAccount(_Model):
    """Payout bank account. Send the processor's ``fingerprint`` (e.g. Stripe's
    ``bank_account.fingerprint``) when you have it; otherwise the routing and account
    numbers, from which a keyed fingerprint is derived (the numbers are never stored)."""

    holder_name: Name | None = None
    fingerprint: Identifier | None = None
    routing_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z \-]{4,34}$")] | None \
        = None
    account_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z \-]{4,34}$")] | None \
        = None

    @model_validator(mode="after")
    def _identified(self) -> BankAccount:
        if self.fingerprint is None and self.account_number is None:
            raise ValueError("give either fingerprint or account_number")
        return self


class Verification(_Model):
    """Identity-verification outcome reported by the platform's KYC provider."""

    status: Literal[VERIFICATION_STATUSES] | None = None
    failures: Count = Field(0, description="Failed verification attempts.")


class Signup(_Model):
    """How the application was submitted."""

    device_id: Identifier = Field(description="Device fingerprint of the browser or app.")
    ip: IPv4Address = Field(description="IPv4 address the application came from.")
    ip_type: Literal[IP_TYPES] | None = None
    ip_country: CountryCode | None = Field(None, description="Country the IP geolocates to.")
    duration_seconds: Annotated[float, Field(strict=True, ge=0, le=MAX_SESSION_SECONDS)] = \
        Field(description="Seconds from opening the signup form to submitting it.")


class Application(_Model):
    """An onboarding application, as the platform's onboarding flow sends it."""

    account_id: Identifier = Field(
        default_factory=lambda: f"acct_{uuid.uuid4().hex[:16]}",
        description="Platform's id of the connected account; generated when absent.")
    created_at: AwareDatetime = Field(
        default_factory=lambda: datetime.now(UTC),
        description="When the application was submitted (timezone required); now when absent.")
    business: Business
    representative: Representative | None = None
    contact: Contact
    address: Address | None = None
    social_profiles: list[Url] = Field(default_factory=list, max_length=MAX_PROFILES)
    bank_account: BankAccount | None = None
    verification: Verification = Field(default_factory=Verification)
    signup: Signup

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"example": {
        "account_id": "acct_1PqR7sT2uV3wX4yZ",
        "created_at": "2025-06-03T14:21:09Z",
        "business": {"name": "Harbour Light Ceramics", "type": "company", "mcc": "5719",
                     "country": "US", "website": "https://harbourlightceramics.com",
                     "tax_id": "84-2917365"},
        "representative": {"first_name": "Maya", "last_name": "Okafor",
                           "date_of_birth": "1986-09-14"},
        "contact": {"email": "maya@harbourlightceramics.com", "phone": "+1 207 555 0143"},
        "address": {"line1": "41 Commercial Street", "city": "Portland", "postal_code": "04101"},
        "social_profiles": ["https://www.instagram.com/harbourlightceramics"],
        "bank_account": {"holder_name": "Harbour Light Ceramics LLC",
                         "fingerprint": "fp_9hQ2mX7kLp3vZt1c"},
        "verification": {"status": "verified", "failures": 0},
        "signup": {"device_id": "dev_5f1c0e9a7b2d4c38", "ip": "73.186.24.51",
                   "ip_type": "residential", "ip_country": "US", "duration_seconds": 412.0},
    }})  # "example", not "examples": BentoML's OpenAPI schema takes the singular

    def to_records(self, hasher: IdentifierHasher | None = None) -> tuple[dict[str, Any],
                                                                          dict[str, Any]]:
        """The contract ``accounts`` and ``signup_sessions`` rows of this application.

        Every column of both tables is present (``None`` where not given); these are the
        dicts ``store.record.record_application`` and ``features.online`` take. ``hasher``
        derives a keyed bank fingerprint from account numbers (default: from settings).
        """
        account_id = self.account_id
        created = self.created_at.astimezone(UTC)
        b, rep, addr, bank = self.business, self.representative, self.address, self.bank_account
        account: dict[str, Any] = {
            "account_id": account_id, "created_at": created, "country": b.country,
            "business_type": b.type, "mcc": b.mcc, "business_name": b.name,
            "website": b.website, "email": str(self.contact.email), "phone": self.contact.phone,
            "address_line1": addr.line1 if addr else None, "city": addr.city if addr else None,
            "postal_code": addr.postal_code if addr else None, "tax_id": b.tax_id,
            "bank_fingerprint": _bank_fingerprint(bank, b.country, hasher),
            "bank_account_holder_name": bank.holder_name if bank else None,
            "representative_first_name": rep.first_name if rep else None,
            "representative_last_name": rep.last_name if rep else None,
            "representative_dob": rep.date_of_birth if rep else None,
            "social_profiles": list(self.social_profiles),
            "licence_number": b.licence_number,
            "verification_status": self.verification.status,
            "verification_failures": self.verification.failures,
        }
        s = self.signup
        signup: dict[str, Any] = {
            "account_id": account_id,
            "started_at": created - timedelta(seconds=s.duration_seconds),
            "completed_at": created, "device_id": s.device_id, "ip": str(s.ip),
            "ip_type": s.ip_type, "ip_country": s.ip_country,
        }
        return account, signup


def _bank_fingerprint(bank: BankAccount | None, country: str,
                      hasher: IdentifierHasher | None) -> str | None:
    if bank is None:
        return None
    if bank.fingerprint is not None:
        return bank.fingerprint
    numbers = f"{country}:{bank.routing_number or ''}:{bank.account_number}".replace(" ", "")
    digest = (hasher or IdentifierHasher.from_settings()).hash("bank_account", numbers.upper())
    return f"fpk_{digest}"


class Action(StrEnum):
    """What a decision does, in rising order of friction (compare with ``<``, ``max``)."""

    APPROVE = "approve"
    DELAY_PAYOUTS = "delay_payouts"
    MANUAL_REVIEW = "manual_review"
    PAUSE_PAYOUTS = "pause_payouts"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        return _ACTION_ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        return self.severity < Action(other).severity  # type: ignore[arg-type]

    def __le__(self, other: object) -> bool:
        return self.severity <= Action(other).severity  # type: ignore[arg-type]

    def __gt__(self, other: object) -> bool:
        return self.severity > Action(other).severity  # type: ignore[arg-type]

    def __ge__(self, other: object) -> bool:
        return self.severity >= Action(other).severity  # type: ignore[arg-type]


_ACTION_ORDER: tuple[Action, ...] = tuple(Action)


class RiskLevel(StrEnum):
    """Coarse risk band of a calibrated probability, in rising order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


ReasonCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=64)]


class Reason(_Model):
    """Why a decision was taken: a stable code and a sentence a person can act on."""

    code: ReasonCode = Field(description="Stable UPPER_SNAKE code (safe to match on).")
    message: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="Plain-English sentence for an analyst or the account owner.")
    source: Literal["model", "rule", "system"] = Field(
        description="`model` (feature contributions), `rule` (a hard rule of the policy) or "
                    "`system` (e.g. the model could not score).")
    contribution: float | None = Field(
        None, description="Model reasons: summed log-odds contribution of the features "
                          "behind the code; none for rules and system reasons.")


class Decision(_Model):
    """The outcome of scoring one account: what to do, for how long, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    decision_id: str = Field(default_factory=lambda: f"dec_{uuid.uuid4().hex}")
    account_id: str
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        description="Calibrated fraud probability; null when the model could not score.")
    risk_level: RiskLevel
    action: Action
    delay_days: Annotated[int, Field(ge=0)] = Field(
        description="Payout delay to apply (payout schedule `delay_days`); 0 for none.")
    reasons: list[Reason]
    model_version: str | None
    policy_version: str
    scored_at: AwareDatetime
    shadow: dict[str, Any] | None = Field(
        None, description="Challenger model's score and action, logged but not applied.")

