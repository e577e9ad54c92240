"""DuckDB connections for analytical SQL over the contract's Parquet files.

One place sets what every batch job needs of DuckDB: UTC, the memory limit and thread
count from settings, and a spill directory under ``RISKSCORE_HOME``, so a big sort or
join spills to disk instead of exceeding the memory budget.
"""

from __future__ import annotations

import contextlib

import duckdb

from riskscore.settings import get_settings


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB connection configured from settings."""
    settings = get_settings()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    with contextlib.suppress(duckdb.InvalidInputException):  # Jupyter without ipywidgets
        con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET threads = {settings.duckdb_threads}")
    spill = settings.home / "duckdb-spill"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{spill}'")
    return con
