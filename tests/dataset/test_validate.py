from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskscore.dataset import DataContractError, validate_dataset
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
