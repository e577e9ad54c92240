"""Helpers shared by benchmarks: machine description, child-process timing, results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work"
RESULTS = ROOT / "results"
BIN = Path(sys.executable).parent


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1e6, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def run_timed(args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run a command in a child process; its wall seconds and peak RSS (GNU time)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        started = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *args], check=True,
                       env={**os.environ, **(env or {})})
        wall = time.perf_counter() - started
        peak_kb = int(Path(rss.name).read_text().split()[-1])
    return {"seconds": round(wall, 2), "peak_rss_gb": round(peak_kb / 1e6, 2)}


def record(name: str, result: dict[str, object]) -> Path:
    """Write a result with the machine it ran on to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%d %H:%M UTC",
                                                               time.gmtime()),
               "machine": machine(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path


def simulated_portfolio(accounts: int = 1_000_000, seed: int = 1, root: Path = WORK) -> Path:
    """A cached simulated portfolio for benchmarks (simulated once per machine, under
    ``root``)."""
    out = root / f"sim-{accounts}-{seed}"
    if not (out / "labels.parquet").exists():
        subprocess.run([str(BIN / "riskscore"), "simulate", "--accounts", str(accounts),
                        "--days", "365", "--seed", str(seed), "--out", str(out)], check=True)
    return out


def warm_page_cache(path: Path, chunk_bytes: int = 16 << 20) -> float:
    """Read a file once so the OS page cache holds it (a store serving at latency targets
    keeps its hot pages in memory; a cold cache measures the disk instead). Seconds taken."""
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(chunk_bytes):
            pass
    return round(time.perf_counter() - started, 1)
