"""Simulator: 1,000,000 accounts (~20M movement rows) within 5 minutes and 8 GB."""

from __future__ import annotations

import pyarrow.parquet as pq

from benchmarks.common import BIN, WORK, record, run_timed

TARGET_SECONDS = 300
TARGET_GB = 8.0


def main(accounts: int = 1_000_000) -> dict[str, object]:
    out = WORK / f"sim-{accounts}-1"
    measured = run_timed([str(BIN / "riskscore"), "simulate", "--accounts", str(accounts),
                          "--days", "365", "--seed", "1", "--out", str(out)])
    rows = {p.stem: pq.read_metadata(p).num_rows for p in sorted(out.glob("*.parquet"))}
    result = {"accounts": accounts, "rows": rows, **measured,
              "target": {"seconds": TARGET_SECONDS, "peak_rss_gb": TARGET_GB},
              "passed": measured["seconds"] <= TARGET_SECONDS
              and measured["peak_rss_gb"] <= TARGET_GB}
    record("simulate", result)
    return result


if __name__ == "__main__":
    main()
