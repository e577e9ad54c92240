"""Shared fixtures: one small simulated platform per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Two xdist workers share two cores: LightGBM with two threads each would thrash.
os.environ.setdefault("RISKSCORE_MODEL_THREADS", "1")
# Embedded stores and caches of a test run live in a throwaway directory.
os.environ["RISKSCORE_HOME"] = tempfile.mkdtemp(prefix="riskscore-test-")
os.environ["RISKSCORE_API_KEYS"] = '{"onboarding-tests": "test-key-1"}'
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="riskscore-bentoml-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="riskscore-prom-")

SIM_ACCOUNTS = 8_000
SIM_DAYS = 365
SIM_SEED = 3


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated platform written in the data contract (8,000 accounts, one year)."""
    from riskscore.simulate import SimulationConfig, simulate, write_tables

    out = tmp_path_factory.mktemp("sim")
    cfg = SimulationConfig(n_accounts=SIM_ACCOUNTS, days=SIM_DAYS, seed=SIM_SEED,
                           fraud_rate=0.04)
    write_tables(simulate(cfg), out)
    return out


@pytest.fixture(scope="session")
def trained(sim_dir: Path):
    """One model trained on ``sim_dir`` and promoted to champion in this worker's MLflow.

    Tests that use it carry ``@pytest.mark.xdist_group("trained")`` so one worker
    trains it once.
    """
    from riskscore.training.config import TrainingConfig
    from riskscore.training.pipeline import train
    from riskscore.training.promotion import promote

    result = train(sim_dir, TrainingConfig(negative_rate=0.5, num_boost_round=300))
    promote()
    return result


@pytest.fixture(scope="session")
def served_store(sim_dir: Path) -> str:
    """The default entity store of this worker (under RISKSCORE_HOME), holding ``sim_dir``."""
    from riskscore.settings import get_settings
    from riskscore.store.engine import make_engine
    from riskscore.store.load import load_dataset
    from riskscore.store.migrate import upgrade

    url = get_settings().resolved_database_url()
    upgrade(url)
    load_dataset(sim_dir, make_engine(url))
    return url


@pytest.fixture(scope="session")
def slim_dir(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sim_dir`` as a platform might export it (docs/data.md, bring your own data): no
    signup sessions or changes, no phone, tax id or social profiles, licence numbers all
    null, movements without status or capture kind, logins without IP country."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path_factory.mktemp("slim")
    drop = {"accounts": ["phone", "tax_id", "social_profiles"],
            "movements": ["status", "capture_kind"], "logins": ["ip_country"], "labels": []}
    for name, columns in drop.items():
        table = pq.read_table(sim_dir / f"{name}.parquet").drop_columns(columns)
        if name == "accounts":
            i = table.schema.get_field_index("licence_number")
            table = table.set_column(i, "licence_number", pa.nulls(len(table), pa.string()))
        pq.write_table(table, out / f"{name}.parquet")
    return out
