"""Run the benchmarks: ``python -m benchmarks.run [name ...]`` (default: all)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS: tuple[str, ...] = ("simulate", "features", "online", "webhooks", "training",
                               "serving", "rescore")


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {BENCHMARKS}")
        print(f"== benchmark {name}", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
