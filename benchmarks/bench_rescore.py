"""Batch rescoring: 1,000,000 accounts (~20M movements) features + scores + decisions in
at most 60 s and 4 GB; Spark local mode on 100,000 accounts equal to the local engine.

A small model is trained and promoted once in the benchmark's own home; then
the rescore runs in fresh processes: the local engine twice (cold and warm
application-feature cache, as in the features benchmark; the CLI's call, with stage
times), and on the Spark-sized portfolio both engines (Spark through the CLI, two
partitions), whose decisions are compared row for row.
Sizes: ``BENCH_RESCORE_ACCOUNTS`` (default 1,000,000), ``BENCH_RESCORE_SPARK_ACCOUNTS``
(default 100,000; 0 skips Spark). ``BENCH_RESCORE_WORK`` (default ``benchmarks/.work``)
holds the benchmark's home, training portfolio and outputs; ``BENCH_RESCORE_COLD=0``
keeps the home's application cache of an earlier run and skips the cold run (the warm
numbers only); ``BENCH_RESCORE_NIGHTLY=1`` adds the next night's run (as of the next
day, compared with the warm run, ``RISKSCORE_RESCORE_EXPLAIN=changed``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from benchmarks.common import BIN, WORK, record, run_timed, simulated_portfolio

TARGET_SECONDS = 60
TARGET_GB = 4.0
AS_OF = "2026-01-01"
NEXT_DAY = "2026-01-02"
TRAIN_ACCOUNTS = 20_000


def _champion(home: Path, scratch: Path) -> None:
    """Train and promote a small model in ``home`` once."""
    if (home / "champion.done").exists():
        return
    data = simulated_portfolio(TRAIN_ACCOUNTS, seed=7, root=scratch)
    env = {**os.environ, "RISKSCORE_HOME": str(home)}
    subprocess.run([str(BIN / "riskscore"), "train", "--data", str(data)], check=True, env=env)
    subprocess.run([str(BIN / "riskscore"), "promote"], check=True, env=env)
    (home / "champion.done").touch()


JOB = """
import json, sys, time
started = time.perf_counter()
import pandas as pd
from riskscore.batch.rescore import rescore
marks = {"imported": time.perf_counter() - started}
def show(label, done, total):
    marks[label] = round(time.perf_counter() - started, 2)
rescore(sys.argv[1], pd.Timestamp(sys.argv[3], tz="UTC"), sys.argv[2], progress=show)
json.dump(marks, open(sys.argv[4], "w"))
"""


def _rescore(data: Path, out: Path, home: Path, engine: str = "local",
             chunk_size: int | None = None, as_of: str = AS_OF,
             explain: str = "held") -> dict[str, object]:
    """One rescore in a fresh process: the CLI for Spark, else the same call with the
    time of each progress event (cumulative seconds). Starts ``out`` afresh unless
    ``explain == "changed"``, which compares with the run already there."""
    if explain != "changed":
        shutil.rmtree(out, ignore_errors=True)
    env = {"RISKSCORE_HOME": str(home), "COLUMNS": "120", "RISKSCORE_RESCORE_EXPLAIN": explain}
    if engine == "spark":
        return run_timed([str(BIN / "riskscore"), "rescore", "--as-of", AS_OF, "--out",
                          str(out), "--data", str(data), "--engine", engine, "--chunk-size",
                          str(chunk_size)], env)
    marks = out.with_suffix(".stages.json")
    timed: dict[str, object] = dict(run_timed(
        [sys.executable, "-c", JOB, str(data), str(out), as_of, str(marks)], env))
    timed["stages_ended_at"] = json.loads(marks.read_text())
    return timed


def _decisions(out: Path) -> pd.DataFrame:
    from riskscore.batch.output import read_decisions

    run = sorted(out.glob("asof=*"))[0]
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
    scratch = Path(os.environ.get("BENCH_RESCORE_WORK", WORK))
    cold_run = os.environ.get("BENCH_RESCORE_COLD", "1") != "0"
    load_before = os.getloadavg()
    home = scratch / "rescore-home"
    _champion(home, scratch)
    if cold_run:
        shutil.rmtree(home / "cache", ignore_errors=True)
    data = simulated_portfolio(accounts)
    out = scratch / "rescore-out"
    cold = _rescore(data, out, home) if cold_run else None
    warm = _rescore(data, out, home)
    n = len(_decisions(out))
    result: dict[str, object] = {
        "accounts": accounts, "scored": n, "as_of": AS_OF, "warm": warm,
        **({"cold": cold} if cold else {}),
        "target": {"seconds": TARGET_SECONDS, "peak_rss_gb": TARGET_GB},
        "passed_warm": accounts >= 1_000_000 and warm["seconds"] <= TARGET_SECONDS
        and warm["peak_rss_gb"] <= TARGET_GB,
        "load_average_before": load_before}
    if os.environ.get("BENCH_RESCORE_NIGHTLY") == "1":
        nightly = _rescore(data, out, home, as_of=NEXT_DAY, explain="changed")
        nightly["changed_accounts"] = len(pd.read_csv(
            out / f"asof={NEXT_DAY}T000000Z" / "report" / "changes.csv"))
        result["next_day_explaining_changed"] = nightly
    if spark_accounts:
        small = simulated_portfolio(spark_accounts)
        local_out, spark_out = scratch / "rescore-local", scratch / "rescore-spark"
        if spark_accounts == accounts:  # the warm run is the local engine's result
            local_out, local = out, warm
        else:
            local = _rescore(small, local_out, home)
        chunk = -(-spark_accounts // 2)  # two partitions: one per core of local[2]
        spark = _rescore(small, spark_out, home, "spark", chunk)
        result["spark"] = {"accounts": spark_accounts, "partitions": 2, "local": local,
                           "spark": spark,
                           **_compare(_decisions(local_out), _decisions(spark_out))}
    result["load_average_after"] = os.getloadavg()
    record(f"rescore_{accounts}", result)
    return result


if __name__ == "__main__":
    main()
