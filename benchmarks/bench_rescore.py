"""Batch rescoring: 1,000,000 accounts (~20M movements) features + scores + decisions in
at most 60 s and 4 GB; Spark local mode on 100,000 accounts equal to the local engine.

A small model is trained and promoted once in the benchmark's own home; then
``riskscore rescore`` runs in fresh processes: the local engine twice (cold and warm
application-feature cache, as in the features benchmark), and on the Spark-sized
portfolio both engines, whose decisions are compared row for row.
Sizes: ``BENCH_RESCORE_ACCOUNTS`` (default 1,000,000), ``BENCH_RESCORE_SPARK_ACCOUNTS``
(default 100,000; 0 skips Spark).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd

from benchmarks.common import BIN, WORK, record, run_timed, simulated_portfolio

TARGET_SECONDS = 60
TARGET_GB = 4.0
AS_OF = "2026-01-01"
TRAIN_ACCOUNTS = 20_000


def _champion(home: Path) -> None:
    """Train and promote a small model in ``home`` once."""
    if (home / "champion.done").exists():
        return
    data = simulated_portfolio(TRAIN_ACCOUNTS, seed=7)
    env = {**os.environ, "RISKSCORE_HOME": str(home)}
    subprocess.run([str(BIN / "riskscore"), "train", "--data", str(data)], check=True, env=env)
    subprocess.run([str(BIN / "riskscore"), "promote"], check=True, env=env)
    (home / "champion.done").touch()


def _rescore(data: Path, out: Path, home: Path, engine: str = "local") -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    return run_timed([str(BIN / "riskscore"), "rescore", "--as-of", AS_OF, "--out", str(out),
                      "--data", str(data), "--engine", engine],
                     {"RISKSCORE_HOME": str(home), "COLUMNS": "120"})


def _decisions(out: Path) -> pd.DataFrame:
    from riskscore.batch.output import read_decisions

    (run,) = out.glob("asof=*")
    return read_decisions(run).sort_values("account_id", ignore_index=True)


def _compare(local: pd.DataFrame, spark: pd.DataFrame) -> dict[str, object]:
    same_ids = local["account_id"].tolist() == spark["account_id"].tolist()
    columns = ["score", "action", "delay_days", "risk_level", "reasons"]
    differing = {c: int((local[c] != spark[c]).sum()) for c in columns} if same_ids else {}
    equal = same_ids and local.equals(spark)
    return {"rows": len(local), "same_accounts": same_ids, "differing_rows": differing,
            "equal": equal}


def main() -> dict[str, object]:
    accounts = int(os.environ.get("BENCH_RESCORE_ACCOUNTS", 1_000_000))
    spark_accounts = int(os.environ.get("BENCH_RESCORE_SPARK_ACCOUNTS", 100_000))
    home = WORK / "rescore-home"
    _champion(home)
    shutil.rmtree(home / "cache", ignore_errors=True)
    data = simulated_portfolio(accounts)
    out = WORK / "rescore-out"
    cold = _rescore(data, out, home)
    warm = _rescore(data, out, home)
    n = len(_decisions(out))
    result: dict[str, object] = {
        "accounts": accounts, "scored": n, "as_of": AS_OF, "cold": cold, "warm": warm,
        "target": {"seconds": TARGET_SECONDS, "peak_rss_gb": TARGET_GB},
        "passed_warm": accounts >= 1_000_000 and warm["seconds"] <= TARGET_SECONDS
        and warm["peak_rss_gb"] <= TARGET_GB,
        "load_average_before": os.getloadavg()}
    if spark_accounts:
        small = simulated_portfolio(spark_accounts)
        local_out, spark_out = WORK / "rescore-local", WORK / "rescore-spark"
        if spark_accounts == accounts:  # the warm run is the local engine's result
            local_out, local = out, warm
        else:
            local = _rescore(small, local_out, home)
        spark = _rescore(small, spark_out, home, "spark")
        result["spark"] = {"accounts": spark_accounts, "local": local, "spark": spark,
                           **_compare(_decisions(local_out), _decisions(spark_out))}
    result["load_average_after"] = os.getloadavg()
    record(f"rescore_{accounts}", result)
    return result


if __name__ == "__main__":
    main()
