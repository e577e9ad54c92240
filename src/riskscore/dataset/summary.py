"""A portfolio at a glance: sizes, base rates, typologies, label delays, money mix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from riskscore.dataset.validate import DatasetReport


@dataclass
class Summary:
    rows: dict[str, int]
    accounts: dict[str, float]
    typologies: pd.DataFrame
    movements: pd.DataFrame


def summarise(report: DatasetReport) -> Summary:
    """Compute the summary of a validated data directory."""
    root: Path = report.root
    con = duckdb.connect()
    acc = f"read_parquet('{root / 'accounts.parquet'}')"
    mov = f"read_parquet('{root / 'movements.parquet'}')"
    first, last = con.execute(f"SELECT min(created_at), max(created_at) FROM {acc}").fetchone()
    accounts: dict[str, float] = {"accounts": report.rows["accounts"],
                                  "first signup": first, "last signup": last}
    typologies = pd.DataFrame()
    if report.has("labels"):
        lab = f"read_parquet('{root / 'labels.parquet'}')"
        rate, known = con.execute(
            f"SELECT avg(is_fraud::INT), avg((label_known_at IS NOT NULL)::INT) FILTER "
            f"(WHERE is_fraud) FROM {lab}").fetchone()
        accounts["fraud rate"] = rate
        accounts["fraud detected (labelled)"] = known
        typologies = con.execute(f"""
            SELECT typology, count(*) AS accounts,
                   avg((label_known_at IS NOT NULL)::INT) AS detected,
                   median(date_diff('hour', fraud_start_at, label_known_at)) / 24.0
                       AS median_days_to_label,
                   sum(loss_amount) / 100.0 AS loss
            FROM {lab} WHERE is_fraud GROUP BY typology ORDER BY accounts DESC""").df()
    movements = con.execute(f"""
        SELECT type, count(*) AS rows, sum(amount) / 100.0 AS amount,
               count(DISTINCT account_id) AS accounts
        FROM {mov} GROUP BY type ORDER BY rows DESC""").df()
    return Summary(report.rows, accounts, typologies, movements)
