"""The input data contract: the Parquet tables every data source provides.

The simulator writes these tables, the Stripe backfill writes them, and a platform
can export its own history in the same shape. Feature pipelines and training read
only what is declared here; ``docs/data.md`` documents the same declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One column of a contract table."""

    name: str
    type: pa.DataType
    required: bool
    description: str


@dataclass(frozen=True)
class Table:
    """One table of the contract: a Parquet file ``<name>.parquet`` in the data directory."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in self.columns])

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, type_: pa.DataType, required: bool, description: str) -> Column:
    return Column(name, type_, required, description)


S, I32, I64, B = pa.string(), pa.int32(), pa.int64(), pa.bool_()

# Money-movement types and their effect on the account's balance (+1 in, -1 out, 0 none).
MOVEMENT_SIGN: dict[str, int] = {
    "charge": 1,
    "refund": -1,
    "dispute": -1,
    "payout": -1,
    "ach_pull": 1,
    "ach_return": -1,
    "received_credit": 1,
    "received_debit": -1,
    "outbound_transfer": -1,
    "card_authorization": 0,
    "card_capture": -1,
}
MOVEMENT_TYPES: tuple[str, ...] = tuple(MOVEMENT_SIGN)
IP_TYPES: tuple[str, ...] = ("residential", "mobile", "datacenter", "proxy")
CHANGE_TYPES: tuple[str, ...] = ("bank_account", "email", "password", "phone")
VERIFICATION_STATUSES: tuple[str, ...] = ("verified", "pending", "unverified", "failed")
BUSINESS_TYPES: tuple[str, ...] = ("individual", "company", "non_profit")
CAPTURE_KINDS: tuple[str, ...] = ("normal", "force", "over", "multi")

ACCOUNTS = Table(
    "accounts",
    "One row per connected account: the onboarding application as submitted.",
    (
        _c("account_id", S, True, "Platform's id of the connected account (e.g. `acct_...`)."),
        _c("created_at", TS, True, "When the application was submitted (signup completed)."),
        _c("country", S, True, "ISO 3166-1 alpha-2 country of the business."),
        _c("business_type", S, True, "`individual`, `company` or `non_profit`."),
        _c("mcc", S, True, "Merchant category code (4 digits) of the business."),
        _c("business_name", S, True, "Business or trading name as typed by the applicant."),
        _c("website", S, False, "Business website URL as typed; null when none was given."),
        _c("email", S, True, "Contact email as typed (case, whitespace, dots, plus tags kept)."),
        _c("phone", S, False, "Contact phone as typed (any format; E.164 after normalisation)."),
        _c("address_line1", S, False, "Street address as typed."),
        _c("city", S, False, "City."),
        _c("postal_code", S, False, "Postal code."),
        _c("tax_id", S, False, "Tax id (EIN, VAT, SIREN...) as typed."),
        _c("bank_fingerprint", S, False, "Fingerprint of the payout bank account (same account, "
           "same fingerprint across the platform)."),
        _c("bank_account_holder_name", S, False, "Name on the payout bank account."),
        _c("representative_first_name", S, False, "Representative's first name."),
        _c("representative_last_name", S, False, "Representative's last name."),
        _c("representative_dob", pa.date32(), False, "Representative's date of birth."),
        _c("social_profiles", pa.list_(S), False, "URLs of social or professional profiles."),
        _c("licence_number", S, False, "Business licence number, where one was provided."),
        _c("verification_status", S, False, "Identity verification outcome at onboarding: "
           "`verified`, `pending`, `unverified` or `failed`."),
        _c("verification_failures", I32, False, "Failed identity-verification attempts."),
    ),
)

SIGNUP_SESSIONS = Table(
    "signup_sessions",
    "How each application was submitted: one row per account.",
    (
        _c("account_id", S, True, "Account the session created."),
        _c("started_at", TS, True, "When the signup form was opened."),
        _c("completed_at", TS, True, "When the application was submitted."),
        _c("device_id", S, True, "Device fingerprint of the browser or app."),
        _c("ip", S, True, "IPv4 address the application came from."),
        _c("ip_type", S, False, "`residential`, `mobile`, `datacenter` or `proxy`."),
        _c("ip_country", S, False, "ISO country the IP geolocates to."),
    ),
)

LOGINS = Table(
    "logins",
    "Dashboard or API logins to the connected account.",
    (
        _c("account_id", S, True, "Account logged into."),
        _c("ts", TS, True, "When."),
        _c("device_id", S, True, "Device fingerprint."),
        _c("ip", S, True, "IPv4 address."),
        _c("ip_type", S, False, "`residential`, `mobile`, `datacenter` or `proxy`."),
        _c("ip_country", S, False, "ISO country the IP geolocates to."),
        _c("success", B, True, "Whether the login succeeded."),
    ),
)

CHANGES = Table(
    "changes",
    "Sensitive changes to the account: bank account, email, password, phone.",
    (
        _c("account_id", S, True, "Account changed."),
        _c("ts", TS, True, "When."),
        _c("change_type", S, True, "`bank_account`, `email`, `password` or `phone`."),
        _c("device_id", S, True, "Device the change was made from."),
        _c("ip", S, True, "IPv4 address the change was made from."),
        _c("new_value", S, False, "New bank fingerprint, email or phone (null for password)."),
    ),
)

MOVEMENTS = Table(
    "movements",
    "Every movement of money on the account. Amounts are positive, in minor units of the "
    "platform's settlement currency; the type gives the direction (see `MOVEMENT_SIGN`).",
    (
        _c("movement_id", S, True, "Unique id of the movement."),
        _c("account_id", S, True, "Connected account whose balance moves."),
        _c("ts", TS, True, "When the movement was created."),
        _c("type", S, True, "One of: " + ", ".join(f"`{t}`" for t in MOVEMENT_TYPES) + "."),
        _c("amount", I64, True, "Amount in minor units, > 0."),
        _c("status", S, False, "`succeeded` or `failed` (a failed payout moves no money)."),
        _c("instant", B, False, "Payout: instant rather than standard."),
        _c("international", B, False, "Cross-border: foreign card for charges, foreign merchant "
           "for card captures, foreign destination for outbound transfers."),
        _c("counterparty", S, False, "Other side: ACH originator or external account, "
           "merchant for card captures, destination for outbound transfers."),
        _c("merchant_category", S, False, "Card captures and authorisations: merchant category."),
        _c("related_id", S, False, "Refund/dispute -> charge; ach_return -> ach_pull or "
           "received_credit; card_capture -> card_authorization (null for a force capture)."),
        _c("capture_kind", S, False, "Card captures: `normal`, `force` (no authorisation), "
           "`over` (above the authorised amount) or `multi` (second capture of one auth)."),
        _c("return_code", S, False, "ACH return reason code (R01 insufficient funds, R10 "
           "unauthorised, ...)."),
    ),
)

LABELS = Table(
    "labels",
    "Fraud outcome per account, with when it became known. Consumers must only use a "
    "label at or after `label_known_at`.",
    (
        _c("account_id", S, True, "Account."),
        _c("is_fraud", B, True, "Whether the account was (or became) fraudulent."),
        _c("typology", S, False, "Fraud typology (see docs/data.md); null for good accounts."),
        _c("fraud_start_at", TS, False, "When the fraudulent activity began."),
        _c("label_known_at", TS, False, "When the platform learned it; null if never detected "
           "within the data (such fraud is invisible to training, as in life)."),
        _c("loss_amount", I64, False, "Platform loss in minor units (unrecovered negative "
           "balance)."),
        _c("ring_id", S, False, "Ring the account belongs to, for ring fraud."),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t for t in (ACCOUNTS, SIGNUP_SESSIONS, LOGINS, CHANGES, MOVEMENTS, LABELS)
}
