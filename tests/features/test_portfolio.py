"""A portfolio run (one as-of time) takes shortcuts: the same numbers as the general path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from riskscore.dataset import validate_dataset
from riskscore.features.batch import compute_features, portfolio_snapshots

AS_OF = pd.Timestamp("2025-11-01", tz="UTC")


def test_one_as_of_time_gives_the_numbers_of_many(sim_dir: Path) -> None:
    """One as-of time: clusters by connected components, activity aggregated per account
    before the snapshots are joined, and the windowed joins, drains and logins read only
    the recent rows. An early snapshot added to the same run makes it take the general
    path (the replay, every row joined to its snapshot): the portfolio's rows must not
    move.
    """
    report = validate_dataset(sim_dir)
    portfolio = portfolio_snapshots(report, AS_OF)
    alone = compute_features(sim_dir, portfolio, report=report)
    early = pd.DataFrame({"account_id": portfolio["account_id"][:1],
                          "as_of": AS_OF - pd.Timedelta(days=200)})
    mixed = compute_features(sim_dir, pd.concat([portfolio, early], ignore_index=True),
                             report=report)
    pd.testing.assert_frame_equal(alone, mixed.iloc[:len(portfolio)], rtol=1e-9)
    assert (alone["cluster_size"] > 1).sum() > 50 and alone["drain_count_30d"].sum() > 0
    assert alone["cluster_known_fraud"].sum() > 0 and alone["login_count_30d"].sum() > 0


def test_per_account_aggregation_needs_distinct_account_hashes(sim_dir: Path) -> None:
    """Without the validator's word that account-id hashes are distinct, a portfolio run
    joins every row to its snapshot, with the same numbers."""
    report = validate_dataset(sim_dir)
    assert report.account_hashes_distinct
    portfolio = portfolio_snapshots(report, AS_OF)[:2_000]
    fast = compute_features(sim_dir, portfolio, report=report)
    general = compute_features(sim_dir, portfolio, report=dataclasses.replace(
        report, account_hashes_distinct=False))
    pd.testing.assert_frame_equal(fast, general, rtol=1e-9)
