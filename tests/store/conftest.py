"""Fixtures of the store tests: a migrated store per test (SQLite always, PostgreSQL when
reachable) and a small hand-made dataset in the Parquet contract with messy identifiers.

PostgreSQL isolation: each test gets its own schema (``rs_test_<worker>_<random>``) reached
through ``search_path`` in the URL, dropped afterwards, so xdist workers never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from riskscore import schema
from riskscore.store import IdentifierHasher, make_engine, session_factory, upgrade

PG_URL = os.environ.get(
    "RISKSCORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TEST_KEY = b"store-tests-key"


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1) -> datetime:
    """A UTC time in 2025 (January unless told)."""
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="session")
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (``None`` when it can)."""
    url = make_url(PG_URL)
    try:
        psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
            password=url.password, connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {url.host}:{url.port}: {exc}"
    return None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_problem: str | None,
    worker_id: str,
) -> Iterator[Engine]:
    """A freshly migrated, empty store."""
    if request.param == "sqlite":
        store = make_engine(f"sqlite:///{tmp_path / 'db' / 'store.db'}")
        upgrade(store)
        yield store
        store.dispose()
        return
    if postgres_problem:
        pytest.skip(postgres_problem)
    schema_name = f"rs_test_{worker_id}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    store = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema_name}"})
    try:
        upgrade(store)
        yield store
    finally:
        store.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


@pytest.fixture
def hasher() -> IdentifierHasher:
    return IdentifierHasher(TEST_KEY)


def _account(account_id: str, created_at: datetime, **fields: Any) -> dict[str, Any]:
    row = {c.name: None for c in schema.ACCOUNTS.columns}
    row.update(account_id=account_id, created_at=created_at, business_type="company",
               mcc="5734", verification_status="verified", verification_failures=0)
    row.update(fields)
    return row


def _signup(account: dict[str, Any], device_id: str, ip: str, **fields: Any) -> dict[str, Any]:
    row = {
        "account_id": account["account_id"], "started_at": account["created_at"] - timedelta(
            minutes=5), "completed_at": account["created_at"], "device_id": device_id, "ip": ip,
        "ip_type": "residential", "ip_country": account["country"],
    }
    row.update(fields)
    return row


def build_dataset() -> dict[str, list[dict[str, Any]]]:
    """Rows of every contract table.

    Links: a and b are the same person typed differently (email, phone, address, tax id);
    b and d share a device; d and c share a bank account; e shares only a's IP. d is fraud
    known from 1 Feb; c is fraud never detected (not "known"). a's account is taken over on
    5 Feb: new device, bank account changed.
    """
    a = _account(
        "acct_a", at(10, 10), country="US", business_name="Smith Widgets LLC",
        email="John.Smith+shop@Gmail.com", phone="(415) 555-2671",
        address_line1="12 Market Street, Suite 4", city="San Francisco", postal_code="94103",
        tax_id="12-3456789", bank_fingerprint="fp_A1", representative_first_name="John",
        representative_last_name="Smith", bank_account_holder_name="John Smith",
        website="https://smithwidgets.example",
    )
    b = _account(
        "acct_b", at(10, 10, 30), country="US", business_name="J Smith Trading",
        email=" johnsmith@GOOGLEMAIL.com", phone="+1 415-555-2671",
        address_line1="12 market st. ste 4", city="San  Francisco", postal_code="94 103",
        tax_id="123456789", bank_fingerprint="fp_B2", representative_first_name="Jon",
        representative_last_name="Smyth",
    )
    c = _account(
        "acct_c", at(11, 9), country="FR", business_name="Atelier Curie",
        email="Marie.Curie@example.fr", phone="01 42 68 53 00",
        address_line1="5 Rue de Rivoli", city="Paris", postal_code="75001",
        tax_id="FR 123 456 789", bank_fingerprint="fp_C3", representative_first_name="Marie",
        representative_last_name="Curie",
    )
    d = _account(
        "acct_d", at(12, 14), country="US", business_name="Quick Gift Cards",
        email="owner@quickgifts.example", phone="212-555-0199",
        address_line1="99 Broadway", city="New York", postal_code="10006",
        tax_id="98-7654321", bank_fingerprint="fp_C3", representative_first_name="Ann",
        representative_last_name="Other",
    )
    e = _account(
        "acct_e", at(15, 8), country="GB", business_name="Tea Shop Ltd",
        email="hello@teashop.example", phone="07911 123456",
        address_line1="1 High Street", city="London", postal_code="SW1A 1AA",
        tax_id="GB123456789", bank_fingerprint="fp_E5",
    )
    accounts = [a, b, c, d, e]
    signups = [
        _signup(a, "dev_1", "203.0.113.10"),
        _signup(b, "dev_2", "203.0.113.77"),
        _signup(c, "dev_3", "198.51.100.5", ip_type="mobile"),
        _signup(d, "dev_2", "192.0.2.44", ip_type="datacenter"),
        _signup(e, "dev_5", "203.0.113.10"),
    ]
    login = dict(ip_type="residential", ip_country="US")
    logins = [
        {"account_id": "acct_a", "ts": at(20, 9), "device_id": "dev_1", "ip": "203.0.113.10",
         "success": True, **login},
        {"account_id": "acct_a", "ts": at(5, 2, month=2), "device_id": "dev_9",
         "ip": "100.64.7.8", "success": True, **login},
        {"account_id": "acct_a", "ts": at(6, 3, month=2), "device_id": "dev_evil",
         "ip": "100.64.9.9", "success": False, **login},
        {"account_id": "acct_b", "ts": at(18, 12), "device_id": "dev_2", "ip": "203.0.113.77",
         "success": True, **login},
    ]
    changes = [
        {"account_id": "acct_a", "ts": at(5, 2, 10, month=2), "change_type": "bank_account",
         "device_id": "dev_9", "ip": "100.64.7.8", "new_value": "fp_X9"},
        {"account_id": "acct_a", "ts": at(5, 2, 12, month=2), "change_type": "password",
         "device_id": "dev_9", "ip": "100.64.7.8", "new_value": None},
        {"account_id": "acct_c", "ts": at(3, 9, month=2), "change_type": "phone",
         "device_id": "dev_3", "ip": "198.51.100.5", "new_value": "06 12 34 56 78"},
        {"account_id": "acct_e", "ts": at(10, 11, month=2), "change_type": "email",
         "device_id": "dev_5", "ip": "203.0.113.10", "new_value": "marie.curie+shop@example.fr"},
    ]
    movement = {c.name: None for c in schema.MOVEMENTS.columns}
    movements = [
        {**movement, "movement_id": "mv_1", "account_id": "acct_a", "ts": at(21, 10),
         "type": "charge", "amount": 12_000, "status": "succeeded", "international": False,
         "counterparty": "ext_ba_000123456789"},
        {**movement, "movement_id": "mv_2", "account_id": "acct_a", "ts": at(22, 10),
         "type": "refund", "amount": 2_000, "status": "succeeded", "related_id": "mv_1"},
        {**movement, "movement_id": "mv_3", "account_id": "acct_a", "ts": at(5, 3, month=2),
         "type": "payout", "amount": 10_000, "status": "succeeded", "instant": True},
        {**movement, "movement_id": "mv_4", "account_id": "acct_b", "ts": at(19, 10),
         "type": "card_capture", "amount": 5_000, "status": "succeeded",
         "merchant_category": "5732", "capture_kind": "force"},
    ]
    labels = [
        {"account_id": "acct_a", "is_fraud": False, "typology": None, "fraud_start_at": None,
         "label_known_at": None, "loss_amount": None, "ring_id": None},
        {"account_id": "acct_c", "is_fraud": True, "typology": "fake_identity",
         "fraud_start_at": at(20), "label_known_at": None, "loss_amount": 0, "ring_id": None},
        {"account_id": "acct_d", "is_fraud": True, "typology": "ring",
         "fraud_start_at": at(15), "label_known_at": at(1, month=2), "loss_amount": 50_000,
         "ring_id": "ring_1"},
    ]
    return {"accounts": accounts, "signup_sessions": signups, "logins": logins,
            "changes": changes, "movements": movements, "labels": labels}


def write_dataset(rows: dict[str, list[dict[str, Any]]], directory: Path) -> Path:
    """Write ``rows`` as contract Parquet files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, table_rows in rows.items():
        table_schema = schema.TABLES[name].schema
        pq.write_table(pa.Table.from_pylist(table_rows, schema=table_schema),
                       directory / f"{name}.parquet")
    return directory


@pytest.fixture
def raw() -> dict[str, list[dict[str, Any]]]:
    return build_dataset()


@pytest.fixture
def dataset(raw: dict[str, list[dict[str, Any]]], tmp_path: Path) -> Path:
    return write_dataset(raw, tmp_path / "data")


def schema_diffs(engine: Engine) -> list[Any]:
    """Differences between the database's schema and the models (empty when they match)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from riskscore.store.models import Base

    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)  # type: ignore[no-any-return]


def stored_text(engine: Engine) -> list[str]:
    """Every non-null value of every column of every store table, as text."""
    from riskscore.store.models import Base

    values: list[str] = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                values.extend(str(v) for v in row if v is not None)
    return values


def pii_values(rows: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Raw and normalised forms of every PII value and name in ``rows``."""
    from riskscore.identifiers import (
        ip_prefix24,
        normalise_address,
        normalise_email,
        normalise_phone,
        normalise_tax_id,
    )

    found: set[str] = set()
    for a in rows.get("accounts", []):
        found |= {a[k] for k in ("email", "phone", "address_line1", "postal_code", "tax_id",
                                 "bank_fingerprint", "business_name", "website",
                                 "bank_account_holder_name", "representative_first_name",
                                 "representative_last_name")}
        found |= {normalise_email(a["email"]), normalise_phone(a["phone"], a["country"]),
                  normalise_tax_id(a["tax_id"]),
                  normalise_address(a["address_line1"], a["city"], a["postal_code"],
                                    a["country"])}
    for table in ("signup_sessions", "logins", "changes"):
        for r in rows.get(table, []):
            found |= {r["device_id"], r["ip"], ip_prefix24(r["ip"]), r.get("new_value")}
    found |= {m["counterparty"] for m in rows.get("movements", [])}  # external account ids
    return {v.strip() for v in found if v}
