"""Backfill history from the Stripe API into the data contract's Parquet tables.

Lists every connected account, then, for each (``Stripe-Account`` header), its charges,
refunds, disputes and payouts created since a date, following Stripe's pagination
(``auto_paging_iter``). Objects are mapped by the same functions as webhook events
(:mod:`.events`), so a backfilled movement equals the one a webhook would have stored.
The tables are written atomically and validated against the contract; ``riskscore ingest
stripe`` then loads them into the store. Field mapping: ``docs/stripe.md``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import stripe

from riskscore import schema
from riskscore.integrations.stripe.client import call_with_retries
from riskscore.integrations.stripe.events import (
    HANDLERS,
    StripeEvent,
    contract_business_type,
)
from riskscore.settings import Settings, get_settings
from riskscore.store.hashing import IdentifierHasher

PAGE_SIZE = 100
# Object lists fetched per account, with the event type whose mapping turns one object
# into movements.
ACTIVITY: tuple[tuple[str, str], ...] = (
    ("charges", "charge.succeeded"),
    ("refunds", "refund.created"),
    ("disputes", "charge.dispute.created"),
    ("payouts", "payout.created"),
)
_VERIFICATION = {"verified": "verified", "pending": "pending", "unverified": "unverified"}


@dataclass(frozen=True)
class BackfillResult:
    """Rows written per table, and where."""

    out: Path
    rows: dict[str, int]


def account_row(account: Mapping[str, Any]) -> dict[str, Any]:
    """A contract ``accounts`` row from a Stripe Account (missing text fields are empty
    strings where the contract requires a value)."""
    profile = account.get("business_profile") or {}
    individual = account.get("individual") or {}
    address = profile.get("support_address") or (account.get("company") or {}).get(
        "address") or {}
    externals = (account.get("external_accounts") or {}).get("data") or []
    bank = next((e for e in externals if e.get("default_for_currency")), None) or (
        externals[0] if externals else {})
    dob = individual.get("dob") or {}
    return {
        "account_id": account["id"],
        "created_at": datetime.fromtimestamp(account["created"], UTC),
        "country": account.get("country") or "",
        "business_type": contract_business_type(account.get("business_type")),
        "mcc": profile.get("mcc") or "",
        "business_name": profile.get("name") or (account.get("company") or {}).get("name")
        or "",
        "website": profile.get("url"),
        "email": account.get("email") or individual.get("email") or profile.get(
            "support_email") or "",
        "phone": profile.get("support_phone") or individual.get("phone"),
        "address_line1": address.get("line1"),
        "city": address.get("city"),
        "postal_code": address.get("postal_code"),
        "tax_id": None,  # Stripe never returns tax ids
        "bank_fingerprint": bank.get("fingerprint"),
        "bank_account_holder_name": bank.get("account_holder_name"),
        "representative_first_name": individual.get("first_name"),
        "representative_last_name": individual.get("last_name"),
        "representative_dob": _date(dob),
        "social_profiles": None,
        "licence_number": None,
        "verification_status": _VERIFICATION.get(
            (individual.get("verification") or {}).get("status")),
        "verification_failures": None,
    }


def _date(dob: Mapping[str, Any]) -> date | None:
    if all(isinstance(dob.get(k), int) for k in ("year", "month", "day")):
        return date(dob["year"], dob["month"], dob["day"])
    return None


def movement_rows(
    obj: Mapping[str, Any], event_type: str, account_id: str, account_country: str,
    hasher: IdentifierHasher,
) -> list[dict[str, Any]]:
    """Contract ``movements`` rows of one listed object, mapped as its event would be."""
    created = obj.get("created")
    event = StripeEvent(
        id="backfill", type=event_type,
        created=datetime.fromtimestamp(created if isinstance(created, int) else 0, UTC),
        account=account_id, object=dict(obj), previous_attributes=None,
    )
    effect = HANDLERS[event_type](event, hasher)
    rows = []
    for movement in effect.movements if effect else []:
        row = {c.name: movement.get(c.name) for c in schema.MOVEMENTS.columns}
        foreign = movement.get("foreign_country")
        if row["international"] is None and foreign and account_country:
            row["international"] = foreign.upper() != account_country.upper()
        rows.append(row)
    return rows


def backfill(
    client: stripe.StripeClient,
    since: datetime,
    out: Path,
    *,
    settings: Settings | None = None,
    hasher: IdentifierHasher | None = None,
    progress: Callable[[str], None] | None = None,
) -> BackfillResult:
    """Write ``accounts.parquet`` and ``movements.parquet`` for every connected account and
    its activity created at or after ``since`` into ``out`` (replacing those files)."""
    settings = settings or get_settings()
    hasher = hasher or IdentifierHasher.from_settings(settings)
    accounts: list[dict[str, Any]] = []
    movements: dict[str, dict[str, Any]] = {}
    gte = int(since.timestamp())
    for account in _pages(lambda p: client.v1.accounts.list(p), {"limit": PAGE_SIZE},
                          settings):
        row = account_row(account)
        accounts.append(row)
        options: stripe.RequestOptions = {"stripe_account": row["account_id"]}
        for resource, event_type in ACTIVITY:
            service = getattr(client.v1, resource)
            params = {"limit": PAGE_SIZE, "created": {"gte": gte}}
            for obj in _pages(lambda p, s=service, o=options: s.list(p, o), params, settings):
                for mv in movement_rows(obj, event_type, row["account_id"], row["country"],
                                        hasher):
                    movements[mv["movement_id"]] = mv
        if progress:
            progress(row["account_id"])
    out.mkdir(parents=True, exist_ok=True)
    _write(out, schema.ACCOUNTS, accounts)
    _write(out, schema.MOVEMENTS, sorted(movements.values(), key=lambda m: (m["ts"],
                                                                              m["movement_id"])))
    return BackfillResult(out, {"accounts": len(accounts), "movements": len(movements)})


def _pages(
    fetch: Callable[[dict[str, Any]], Any], params: dict[str, Any], settings: Settings
) -> Iterator[dict[str, Any]]:
    """Every object of a list, page by page (``starting_after``), each page fetched with
    bounded retries. Equivalent to ``auto_paging_iter`` with retries per page."""
    params = dict(params)
    while True:
        page, _ = call_with_retries(lambda: fetch(params), settings)
        data = [item.to_dict() if hasattr(item, "to_dict") else dict(item) for item in page.data]
        yield from data
        if not page.has_more or not data:
            return
        params["starting_after"] = data[-1]["id"]


def _write(out: Path, table: schema.Table, rows: list[dict[str, Any]]) -> None:
    path = out / f"{table.name}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp)
    os.replace(tmp, path)
