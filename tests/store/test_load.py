from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from riskscore.store import DuplicateAccount, InvalidData, load_dataset
from riskscore.store.models import Base, Identifier, KnownFraud

from .conftest import at, build_dataset, pii_values, schema_diffs, stored_text, write_dataset


def _counts(engine):
    with engine.connect() as conn:
        return {t.name: conn.scalar(select(func.count()).select_from(t))
                for t in Base.metadata.sorted_tables}


def _identifiers(engine):
    with engine.connect() as conn:
        return set(conn.execute(select(Identifier.account_id, Identifier.kind,
                                       Identifier.value_hash, Identifier.seen_at)))


def test_load_writes_every_table(engine, dataset, hasher):
    written = load_dataset(dataset, engine, hasher=hasher)
    counts = _counts(engine)
    assert counts == {"accounts": 5, "signups": 5, "known_fraud": 1, "logins": 4, "changes": 4,
                      "movements": 4, "identifiers": counts["identifiers"], "decisions": 0,
                      "processed_events": 0, "signup_hours": 4,
                      "stripe_accounts": 0, "stripe_actions": 0, "stripe_parked_events": 0}
    assert {k: v for k, v in written.items() if k != "identifiers"} == {
        "accounts": 5, "signups": 5, "known_fraud": 1, "logins": 4, "changes": 4, "movements": 4,
    }
    # 5 accounts x 8 onboarding kinds, minus nothing missing = 40; + a's dev_9, its IP and /24
    # (login), fp_X9 (change); + c's new phone; + e's new email = 46
    assert counts["identifiers"] == 46


def test_no_raw_pii_is_stored(engine, dataset, raw, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    cells = [cell.lower() for cell in stored_text(engine)]
    secrets = pii_values(raw)
    assert len(secrets) > 60
    leaks = {s for s in secrets for cell in cells if s.lower() in cell}
    assert leaks == set()


def test_identifiers_keep_first_use_and_skip_failed_logins(engine, dataset, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    rows = {(a, k, h): t for a, k, h, t in _identifiers(engine)}
    # dev_1 first used at signup, again at a later login: seen_at is the signup
    assert rows[("acct_a", "device", hasher.hash("device", "dev_1"))] == at(10, 10)
    assert rows[("acct_a", "device", hasher.hash("device", "dev_9"))] == at(5, 2, month=2)
    assert rows[("acct_a", "bank_account", hasher.hash("bank_account", "fp_X9"))] == at(
        5, 2, 10, month=2)
    assert rows[("acct_c", "phone", hasher.hash("phone", "+33612345678"))] == at(3, 9, month=2)
    assert ("acct_a", "device", hasher.hash("device", "dev_evil")) not in rows
    assert ("acct_a", "ip", hasher.hash("ip", "100.64.9.9")) not in rows


@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_first_use_wins_whatever_the_order_of_files_and_rows(engine, raw, hasher, tmp_path,
                                                              chunk_rows):
    login = {**raw["logins"][1], "ts": at(9, month=2)}  # dev_9 again, later, listed first
    raw["logins"].insert(0, login)
    raw["changes"].append({**raw["changes"][1], "ts": at(25), "device_id": "dev_9"})  # earliest
    load_dataset(write_dataset(raw, tmp_path / "d"), engine, hasher=hasher,
                 chunk_rows=chunk_rows)
    rows = {(a, k, h): t for a, k, h, t in _identifiers(engine)}
    assert rows[("acct_a", "device", hasher.hash("device", "dev_9"))] == at(25)


def test_only_detected_fraud_becomes_known_fraud(engine, dataset, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    with engine.connect() as conn:
        rows = conn.execute(select(KnownFraud.account_id, KnownFraud.known_at,
                                   KnownFraud.typology)).all()
    assert [tuple(r) for r in rows] == [("acct_d", at(1, month=2), "ring")]


def test_chunk_size_does_not_change_the_result(engine, dataset, hasher, tmp_path):
    from riskscore.store import make_engine, upgrade

    load_dataset(dataset, engine, hasher=hasher, chunk_rows=1)
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    upgrade(other)
    load_dataset(dataset, other, hasher=hasher, chunk_rows=100_000)
    assert _identifiers(engine) == _identifiers(other)
    assert _counts(engine) == _counts(other)
    other.dispose()


def test_loading_twice_fails_and_changes_nothing(engine, dataset, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    before, identifiers = _counts(engine), _identifiers(engine)
    with pytest.raises(DuplicateAccount, match="5 account id.*'accounts'.*'acct_a'") as info:
        load_dataset(dataset, engine, hasher=hasher)
    assert info.value.ids == ["acct_a", "acct_b", "acct_c", "acct_d", "acct_e"]
    assert _counts(engine) == before
    assert _identifiers(engine) == identifiers


def test_partial_overlap_names_only_the_conflicts_and_loads_nothing(engine, dataset, hasher,
                                                                      tmp_path):
    load_dataset(dataset, engine, hasher=hasher)
    before = _counts(engine)
    rows = build_dataset()
    rows["accounts"][0]["account_id"] = "acct_new"  # acct_a's row under a new id
    rows["signup_sessions"][0]["account_id"] = "acct_new"
    second = write_dataset({k: rows[k] for k in ("accounts", "signup_sessions")},
                           tmp_path / "second")
    with pytest.raises(DuplicateAccount) as info:
        load_dataset(second, engine, hasher=hasher)
    assert info.value.ids == ["acct_b", "acct_c", "acct_d", "acct_e"]
    assert "acct_new" not in str(info.value)
    assert _counts(engine) == before


def test_new_accounts_load_into_a_non_empty_store(engine, dataset, hasher, tmp_path):
    load_dataset(dataset, engine, hasher=hasher)
    rows = build_dataset()
    account, signup = rows["accounts"][0], rows["signup_sessions"][0]
    account.update(account_id="acct_f", created_at=at(1, month=3))
    signup.update(account_id="acct_f", completed_at=at(1, month=3),
                  started_at=at(1, month=3) - timedelta(minutes=1))
    load_dataset(write_dataset({"accounts": [account], "signup_sessions": [signup]},
                               tmp_path / "more"), engine, hasher=hasher)
    assert _counts(engine)["accounts"] == 6


def test_ids_repeated_in_the_file_are_named(engine, raw, hasher, tmp_path):
    raw["accounts"].append(dict(raw["accounts"][1]))
    with pytest.raises(DuplicateAccount, match="repeated in accounts.parquet: 'acct_b'"):
        load_dataset(write_dataset(raw, tmp_path / "rep"), engine, hasher=hasher)
    assert _counts(engine)["accounts"] == 0


def test_rejected_rows_roll_back_the_whole_load(engine, raw, hasher, tmp_path):
    raw["movements"].append({**raw["movements"][0], "movement_id": "mv_x",
                             "account_id": "acct_unknown"})
    with pytest.raises(InvalidData, match=r"movements\.parquet: rows rejected"):
        load_dataset(write_dataset(raw, tmp_path / "bad"), engine, hasher=hasher)
    assert set(_counts(engine).values()) == {0}


def test_indexes_deferred_by_a_first_load_are_rebuilt_or_restored(engine, raw, hasher,
                                                                   tmp_path):
    bad = build_dataset()
    bad["changes"][0]["account_id"] = "acct_unknown"
    with pytest.raises(InvalidData, match="changes.parquet"):
        load_dataset(write_dataset(bad, tmp_path / "bad"), engine, hasher=hasher)
    assert schema_diffs(engine) == []  # the rollback restored the dropped indexes
    load_dataset(write_dataset(raw, tmp_path / "good"), engine, hasher=hasher)
    assert schema_diffs(engine) == []  # rebuilt after the load


def test_repeated_movement_ids_are_rejected(engine, raw, hasher, tmp_path):
    raw["movements"].append(dict(raw["movements"][0]))
    with pytest.raises(InvalidData, match=r"movements\.parquet"):
        load_dataset(write_dataset(raw, tmp_path / "bad"), engine, hasher=hasher)
    assert set(_counts(engine).values()) == {0}


def test_missing_required_column_is_named(engine, raw, hasher, tmp_path):
    directory = write_dataset(raw, tmp_path / "d")
    table = pq.read_table(directory / "logins.parquet").drop_columns(["device_id"])
    pq.write_table(table, directory / "logins.parquet")
    with pytest.raises(InvalidData, match="logins.parquet: missing required column.*device_id"):
        load_dataset(directory, engine, hasher=hasher)
    assert set(_counts(engine).values()) == {0}


def test_wrongly_typed_column_is_named(engine, raw, hasher, tmp_path):
    directory = write_dataset(raw, tmp_path / "d")
    table = pq.read_table(directory / "movements.parquet")
    amounts = pa.array(["lots"] * table.num_rows)
    table = table.set_column(table.schema.get_field_index("amount"), "amount", amounts)
    pq.write_table(table, directory / "movements.parquet")
    with pytest.raises(InvalidData, match="movements.parquet: column 'amount'"):
        load_dataset(directory, engine, hasher=hasher)


def test_only_accounts_file_is_required(engine, raw, hasher, tmp_path):
    with pytest.raises(InvalidData, match="accounts.parquet is missing"):
        load_dataset(write_dataset({"logins": raw["logins"]}, tmp_path / "x"), engine,
                     hasher=hasher)
    written = load_dataset(write_dataset({"accounts": raw["accounts"]}, tmp_path / "y"), engine,
                           hasher=hasher)
    assert written == {"accounts": 5, "identifiers": 25}


def test_missing_directory(engine, tmp_path):
    with pytest.raises(InvalidData, match="does not exist"):
        load_dataset(tmp_path / "nope", engine)


def test_events_are_stored_account_by_account_in_time_order(engine, raw, hasher, tmp_path):
    # Files in time order interleave accounts; the store keeps each account's events
    # together, oldest first, so one account's reads touch few pages: logins and changes
    # by insertion order (their ids), movements by their clustered key (SQLite).
    for table in ("logins", "changes", "movements"):
        raw[table].sort(key=lambda row: row["ts"], reverse=True)
    load_dataset(write_dataset(raw, tmp_path / "d"), engine, hasher=hasher)
    scans = {"logins": "SELECT account_id, ts FROM logins ORDER BY id",
             "changes": "SELECT account_id, ts FROM changes ORDER BY id"}
    if engine.dialect.name == "sqlite":  # a WITHOUT ROWID table is scanned in key order
        scans["movements"] = "SELECT account_id, ts FROM movements"
    with engine.connect() as conn:
        for table, scan in scans.items():
            stored = conn.exec_driver_sql(scan).all()
            assert len(stored) == len(raw[table])
            assert stored == sorted(stored), table
