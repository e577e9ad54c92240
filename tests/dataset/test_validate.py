from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from riskscore.dataset import DataContractError, require_for_training, validate_dataset
from riskscore.schema import TABLES


def _copy(sim_dir: Path, dst: Path, **tables: pd.DataFrame) -> Path:
    dst.mkdir()
    for name in TABLES:
        if name in tables:
            if tables[name] is not None:
                pq.write_table(pa.Table.from_pandas(tables[name], preserve_index=False),
                               dst / f"{name}.parquet")
        elif (sim_dir / f"{name}.parquet").exists():
            (dst / f"{name}.parquet").write_bytes((sim_dir / f"{name}.parquet").read_bytes())
    return dst


def test_simulated_data_is_valid(sim_dir: Path) -> None:
    report = validate_dataset(sim_dir)
    assert report.rows["accounts"] == 8_000 and not report.missing_tables


@pytest.mark.parametrize(("table", "mutate", "message"), [
    ("movements", lambda d: d.assign(amount=-d.amount), "column 'amount'"),
    ("movements", lambda d: d.drop(columns="ts"), "required column 'ts'"),
    ("movements", lambda d: d.assign(type="wire"), "column 'type': unknown values ['wire']"),
    ("accounts", lambda d: d.assign(created_at=d.created_at.astype(str)),
     "column 'created_at': expected timestamp"),
    ("accounts", lambda d: pd.concat([d, d.head(2)]), "column 'account_id': 2 duplicate"),
    ("labels", lambda d: d.assign(is_fraud=None), "table labels"),
])
def test_errors_name_table_and_column(sim_dir, tmp_path, table, mutate, message) -> None:
    bad = mutate(pd.read_parquet(sim_dir / f"{table}.parquet"))
    root = _copy(sim_dir, tmp_path / "bad", **{table: bad})
    with pytest.raises(DataContractError, match=f"table {table}"):
        validate_dataset(root)
    with pytest.raises(DataContractError) as err:
        validate_dataset(root)
    assert message in str(err.value)


def test_optional_tables_and_columns_may_be_absent(sim_dir, tmp_path) -> None:
    slim = pd.read_parquet(sim_dir / "movements.parquet").drop(columns=["capture_kind"])
    root = _copy(sim_dir, tmp_path / "slim", logins=None, movements=slim)
    report = validate_dataset(root)
    assert "logins" in report.missing_tables
    assert report.missing_columns["movements"] == ["capture_kind"]
    with pytest.raises(DataContractError, match="required file"):
        validate_dataset(_copy(sim_dir, tmp_path / "none", accounts=None))


def _arrow_copy(sim_dir: Path, dst: Path, table: str, mutate) -> Path:
    """``sim_dir`` with one table rewritten by ``mutate`` (on the Arrow table: types kept)."""
    dst.mkdir()
    for name in TABLES:
        if (sim_dir / f"{name}.parquet").exists():
            (dst / f"{name}.parquet").write_bytes((sim_dir / f"{name}.parquet").read_bytes())
    changed = mutate(pq.read_table(sim_dir / f"{table}.parquet"))
    if changed is None:
        (dst / f"{table}.parquet").unlink()
    else:
        pq.write_table(changed, dst / f"{table}.parquet")
    return dst


def _set(t: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return t.set_column(t.schema.get_field_index(column), column, values)


def _shift(t: pa.Table, column: str, days: int) -> pa.Table:
    shifted = pc.add(t[column], pa.scalar(pd.Timedelta(days=days).to_pytimedelta()))
    return _set(t, column, shifted)


@pytest.mark.parametrize(("table", "mutate", "message"), [
    ("movements", lambda t: None, "table movements: required file"),
    ("movements", lambda t: _set(t, "amount", pc.cast(t["amount"], pa.float64())),
     "table movements, column 'amount': expected int64, found double (pandas makes"),
    ("accounts", lambda t: _set(t, "created_at", pc.cast(t["created_at"], pa.timestamp("us"))),
     "table accounts, column 'created_at': expected timestamp[us, tz=UTC], found timestamp[us] "
     "(timestamps must carry a time zone"),
    ("accounts", lambda t: t.drop_columns(["email"]),
     "table accounts: required column 'email' is missing"),
    ("movements", lambda t: _set(t, "account_id", pa.array(
        [None] + t["account_id"].to_pylist()[1:], pa.string())),
     "table movements, column 'account_id': 1 null values in a required column"),
    ("labels", lambda t: _set(t, "label_known_at", pa.array(
        [pd.Timestamp("2020-01-01", tz="UTC")] * len(t), pa.timestamp("us", tz="UTC"))),
     "table labels, column 'label_known_at': 8000 accounts have a label known before they "
     "were created"),
    ("movements", lambda t: _set(t, "account_id", pa.array(
        ["acct_nobody"] + t["account_id"].to_pylist()[1:], pa.string())),
     "table movements, column 'account_id': 1 rows belong to accounts not in the accounts "
     "table (e.g. 'acct_nobody')"),
    ("signup_sessions", lambda t: _shift(t, "started_at", 1),
     "table signup_sessions, column 'completed_at':"),
    ("labels", lambda t: t.append_column("is_fraud", t["is_fraud"]),
     "table labels, column 'is_fraud': appears more than once"),
])
def test_each_kind_of_bad_input_is_named(sim_dir, tmp_path, table, mutate, message) -> None:
    root = _arrow_copy(sim_dir, tmp_path / "bad", table, mutate)
    with pytest.raises(DataContractError) as err:
        validate_dataset(root)
    assert message in str(err.value)


def test_entirely_null_optional_column_counts_as_absent(sim_dir, tmp_path) -> None:
    root = _arrow_copy(sim_dir, tmp_path / "nulls", "accounts", lambda t: _set(
        _set(t, "tax_id", pa.nulls(len(t), pa.string())), "phone", pa.nulls(len(t))))
    report = validate_dataset(root)
    assert report.empty_columns == {"accounts": ["phone", "tax_id"]}
    assert not report.has("accounts", "tax_id") and report.has("accounts", "email")


def test_training_needs_labels_with_the_date_they_became_known(sim_dir, tmp_path) -> None:
    no_labels = validate_dataset(_arrow_copy(sim_dir, tmp_path / "a", "labels", lambda t: None))
    with pytest.raises(DataContractError, match="table labels: training needs labels.parquet"):
        require_for_training(no_labels)
    undated = validate_dataset(_arrow_copy(sim_dir, tmp_path / "b", "labels",
                                           lambda t: t.drop_columns(["label_known_at"])))
    with pytest.raises(DataContractError, match="column 'label_known_at' is required"):
        require_for_training(undated)
    require_for_training(validate_dataset(sim_dir))


def test_activity_before_signup_is_a_warning(sim_dir, tmp_path) -> None:
    root = _arrow_copy(sim_dir, tmp_path / "early", "logins", lambda t: _shift(t, "ts", -4000))
    report = validate_dataset(root)
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("table logins, column 'ts': ")
    assert "accounts have logins before they were created" in report.warnings[0]
    assert validate_dataset(sim_dir).warnings == []


def _duplicate_movement(t: pa.Table) -> pa.Table:
    ids = t["movement_id"].to_pylist()
    return _set(t, "movement_id", pa.array([ids[1], *ids[1:]], pa.string()))


def _unknown_account(t: pa.Table) -> pa.Table:
    return _set(t, "account_id", pa.array(["acct_nobody"] + t["account_id"].to_pylist()[1:],
                                          pa.string()))


@pytest.mark.parametrize(("mutate", "message"), [
    (_duplicate_movement, "table movements, column 'movement_id': 1 duplicate values"),
    (_unknown_account, "table movements, column 'account_id': 1 rows belong to accounts not"),
])
def test_row_checks_in_the_background_raise_on_confirm(sim_dir, tmp_path, mutate,
                                                        message) -> None:
    from riskscore.features.batch import compute_features, portfolio_snapshots

    root = _arrow_copy(sim_dir, tmp_path / "bad", "movements", mutate)
    report = validate_dataset(root, background=True)  # the schema is fine: no error yet
    with pytest.raises(DataContractError) as err:
        report.confirm()
    assert message in str(err.value)
    snapshots = portfolio_snapshots(report, pd.Timestamp("2026-01-01", tz="UTC")).head(50)
    with pytest.raises(DataContractError) as err:  # never features of data that is not valid
        compute_features(root, snapshots)
    assert message in str(err.value)


def test_background_warnings_are_complete_after_confirm(sim_dir, tmp_path) -> None:
    root = _arrow_copy(sim_dir, tmp_path / "early", "logins", lambda t: _shift(t, "ts", -4000))
    report = validate_dataset(root, background=True).confirm()
    assert [w.split(":")[0] for w in report.warnings] == ["table logins, column 'ts'"]
    assert validate_dataset(sim_dir, background=True).confirm().warnings == []
