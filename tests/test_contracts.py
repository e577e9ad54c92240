"""Edge contracts: applications validate strictly, map onto the data contract, and score
the same online as in batch; decisions and actions behave."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from riskscore import schema
from riskscore.contracts import Action, Application, Decision, Reason, RiskLevel
from riskscore.dataset import validate_dataset
from riskscore.features.availability import missing_inputs
from riskscore.features.batch import compute_features
from riskscore.features.catalogue import feature_names
from riskscore.features.online import application_online_features
from riskscore.store import IdentifierHasher, make_engine, session_factory, upgrade
from riskscore.store.record import record_application

EXAMPLE: dict[str, Any] = Application.model_config["json_schema_extra"]["example"]


def _with(path: str, value: Any) -> dict[str, Any]:
    """The example with one field (dotted path) replaced, or removed when value is ...."""
    data = json.loads(json.dumps(EXAMPLE))
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is ...:
        node.pop(leaf)
    else:
        node[leaf] = value
    return data


def test_example_is_valid_and_maps_every_contract_column() -> None:
    account, signup = Application.model_validate(EXAMPLE).to_records()
    assert list(account) == [c.name for c in schema.ACCOUNTS.columns]
    assert list(signup) == [c.name for c in schema.SIGNUP_SESSIONS.columns]
    assert account["created_at"] == datetime(2025, 6, 3, 14, 21, 9, tzinfo=UTC)
    assert signup["completed_at"] - signup["started_at"] == timedelta(seconds=412)
    assert account["representative_dob"].isoformat() == "1986-09-14"
    # Rows fit the Parquet contract's types.
    pa.Table.from_pylist([account], schema=schema.ACCOUNTS.schema)
    pa.Table.from_pylist([signup], schema=schema.SIGNUP_SESSIONS.schema)


def test_application_json_round_trip() -> None:
    app = Application.model_validate(EXAMPLE)
    assert Application.model_validate_json(app.model_dump_json()) == app
    assert "example" in Application.model_json_schema()


def test_defaults_generate_id_and_time() -> None:
    data = _with("account_id", ...)
    data.pop("created_at")
    app = Application.model_validate(data)
    assert app.account_id.startswith("acct_")
    assert app.to_records()[0]["account_id"] == app.account_id == app.to_records()[1][
        "account_id"]
    assert abs(app.created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_created_at_is_converted_to_utc() -> None:
    app = Application.model_validate(_with("created_at", "2025-06-03T16:21:09+02:00"))
    assert app.to_records()[0]["created_at"] == datetime(2025, 6, 3, 14, 21, 9, tzinfo=UTC)


@pytest.mark.parametrize(("path", "value", "field"), [
    ("business.country", "XX", "business.country"),
    ("business.country", "USA", "business.country"),
    ("business.mcc", "57190", "business.mcc"),
    ("business.mcc", 5719, "business.mcc"),
    ("business.type", "llc", "business.type"),
    ("business.name", "x" * 201, "business.name"),
    ("business.name", ..., "business.name"),
    ("contact.email", "maya@", "contact.email"),
    ("contact.email", "not an email", "contact.email"),
    ("signup.ip", "999.1.1.1", "signup.ip"),
    ("signup.ip", "2001:db8::1", "signup.ip"),
    ("signup.duration_seconds", "412", "signup.duration_seconds"),
    ("signup.duration_seconds", -1, "signup.duration_seconds"),
    ("signup.ip_type", "satellite", "signup.ip_type"),
    ("signup.device_id", "dev 1; drop", "signup.device_id"),
    ("signup", ..., "signup"),
    ("verification.failures", "2", "verification.failures"),
    ("verification.status", "ok", "verification.status"),
    ("social_profiles", ["https://x.example"] * 21, "social_profiles"),
    ("created_at", "2025-06-03T14:21:09", "created_at"),
    ("representative.date_of_birth", "2999-01-01", "representative"),
    ("bank_account", {"holder_name": "X"}, "bank_account"),
    ("surprise", 1, "surprise"),
])
def test_bad_input_fails_naming_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Application.model_validate(_with(path, value))
    locations = {".".join(str(p) for p in e["loc"]) for e in err.value.errors()}
    assert any(loc == field or loc.startswith(field + ".") for loc in locations), locations


def test_bank_numbers_become_a_keyed_fingerprint_never_stored_raw() -> None:
    numbers = {"holder_name": "Maya Okafor", "routing_number": "011000015",
               "account_number": "000123456789"}
    hasher = IdentifierHasher(b"k1")
    fp = Application.model_validate(_with("bank_account", numbers)).to_records(hasher)[0][
        "bank_fingerprint"]
    assert fp.startswith("fpk_") and "123456789" not in fp
    spaced = {**numbers, "account_number": "0001 2345 6789"}
    assert Application.model_validate(_with("bank_account", spaced)).to_records(hasher)[0][
        "bank_fingerprint"] == fp
    other_key = Application.model_validate(_with("bank_account", numbers)).to_records(
        IdentifierHasher(b"k2"))[0]["bank_fingerprint"]
    assert other_key != fp


def test_application_round_trips_to_online_features_equal_to_batch(tmp_path: Path) -> None:
    """Application -> records -> store -> online features == batch features of the rows."""
    earlier = Application.model_validate({**_with("account_id", "acct_earlier000001"),
                                          "created_at": "2025-06-03T13:50:00Z",
                                          "contact": {"email": "maya.okafor@gmail.com"}})
    app = Application.model_validate(EXAMPLE)  # same device and bank account as `earlier`
    rows = [a.to_records() for a in (earlier, app)]

    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_pylist([r[0] for r in rows], schema=schema.ACCOUNTS.schema),
                   data / "accounts.parquet")
    pq.write_table(pa.Table.from_pylist([r[1] for r in rows],
                                        schema=schema.SIGNUP_SESSIONS.schema),
                   data / "signup_sessions.parquet")
    for table in ("movements", "logins", "changes", "labels"):  # no history yet
        pq.write_table(schema.TABLES[table].schema.empty_table(), data / f"{table}.parquet")
    as_of = app.created_at
    batch = compute_features(data, _snapshot(app.account_id, as_of)).iloc[0]

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    hasher = IdentifierHasher.from_settings()
    with session_factory(make_engine(url))() as session:
        for account, signup in rows:
            record_application(session, account, signup, hasher=hasher)
        session.commit()
        account, signup = rows[1]
        online = application_online_features(session, account, signup, hasher, as_of)

    names = feature_names()
    assert set(online) >= set(names)
    assert online["shared_device"] == 1 and online["shared_bank_account"] == 1
    assert online["signups_same_device_1h"] == 1 and online["has_website"] == 1
    # batch leaves out what these applications give it no input for (no licence at all)
    dropped = set(missing_inputs(validate_dataset(data)))
    assert {n for n in names if n not in batch.index} == dropped
    assert len(dropped) < 5, dropped
    bad = [(n, online[n], batch[n]) for n in names if n not in dropped
           and not np.isclose(online[n], float(batch[n]), rtol=1e-9, atol=1e-6, equal_nan=True)]
    assert not bad, bad


def _snapshot(account_id: str, as_of: datetime):
    import pandas as pd

    return pd.DataFrame({"account_id": [account_id], "as_of": [pd.Timestamp(as_of)]})


def test_actions_are_ordered_by_severity() -> None:
    order = [Action.APPROVE, Action.DELAY_PAYOUTS, Action.MANUAL_REVIEW, Action.PAUSE_PAYOUTS,
             Action.REJECT]
    assert sorted(reversed(order)) == order == list(Action)
    assert Action.REJECT > Action.APPROVE and Action.DELAY_PAYOUTS < "manual_review"
    assert max(Action.MANUAL_REVIEW, Action.DELAY_PAYOUTS) == Action.MANUAL_REVIEW
    assert Action("reject") is Action.REJECT


def test_decision_and_reason_validate() -> None:
    reason = Reason(code="NO_WEBSITE", message="No business website was given.", source="model",
                    contribution=0.4)
    decision = Decision(account_id="acct_1", score=0.3, risk_level=RiskLevel.HIGH,
                        action=Action.MANUAL_REVIEW, delay_days=7, reasons=[reason],
                        model_version="riskscore/3", policy_version="2025.06.1+abcd1234",
                        scored_at=datetime.now(UTC))
    assert decision.decision_id.startswith("dec_")
    assert json.loads(decision.model_dump_json())["action"] == "manual_review"
    with pytest.raises(ValidationError, match="code"):
        Reason(code="no website", message="x", source="model")
    with pytest.raises(ValidationError, match="score"):
        Decision.model_validate({**decision.model_dump(), "score": 1.2})
    with pytest.raises(ValidationError, match="scored_at"):
        Decision.model_validate({**decision.model_dump(), "scored_at": datetime(2025, 1, 1)})
