"""The ``riskscore`` command line: each command is a thin call into one stage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from riskscore.dataset import DataContractError, validate_dataset

app = typer.Typer(help="Account-risk scoring for payment platforms.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console()


def _frame_table(title: str, df: pd.DataFrame) -> Table:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), justify="right" if df[col].dtype.kind in "fiu" else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(f"{v:,.2f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int)
                        else str(v) for v in row))
    return table


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Directory to write the Parquet tables to.")],
    accounts: Annotated[int, typer.Option(min=100, help="Number of connected accounts.")] = 10_000,
    days: Annotated[int, typer.Option(min=60, help="Length of the simulated history.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
    fraud_rate: Annotated[float, typer.Option(min=0.0, max=0.2,
                                              help="Share of fraudulent accounts.")] = 0.02,
) -> None:
    """Simulate a payments platform's connected accounts, activity and fraud labels."""
    from riskscore.simulate import STAGES, SimulationConfig, write_tables
    from riskscore.simulate import simulate as run

    cfg = SimulationConfig(n_accounts=accounts, days=days, seed=seed, fraud_rate=fraud_rate)
    started = time.perf_counter()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("simulating", total=len(STAGES) + 1)

        def advance(stage: str) -> None:
            progress.update(task, advance=1, description=f"simulated {stage}")

        tables = run(cfg, advance)
        progress.update(task, description="writing Parquet")
        write_tables(tables, out)
        progress.update(task, advance=1, description="done")
    rows = {name: t.num_rows for name, t in tables.items()}
    console.print(f"wrote {', '.join(f'{k}={v:,}' for k, v in rows.items())} to {out} "
                  f"in {time.perf_counter() - started:.1f}s")


@app.command()
def summary(data: Annotated[Path, typer.Argument(help="Directory of contract tables.")]) -> None:
    """Validate a data directory and summarise the portfolio it holds."""
    from riskscore.dataset.summary import summarise

    try:
        report = validate_dataset(data)
    except DataContractError as exc:
        raise _invalid(exc) from exc
    s = summarise(report)
    overview = Table(title=f"Portfolio in {data}", show_header=False)
    for key, value in {**{f"{k} rows": v for k, v in s.rows.items()}, **s.accounts}.items():
        shown = f"{value:.2%}" if isinstance(value, float) else f"{value:,}" if isinstance(
            value, int) else str(value)
        overview.add_row(key, shown)
    console.print(overview)
    if not s.typologies.empty:
        console.print(_frame_table("Fraud by typology", s.typologies))
    console.print(_frame_table("Money movement", s.movements))
    if report.missing_tables or report.missing_columns:
        console.print(f"[yellow]absent (optional):[/yellow] tables {report.missing_tables}, "
                      f"columns {report.missing_columns}")


def _invalid(exc: Exception) -> typer.Exit:
    console.print(f"[red]invalid data:[/red] {exc}")
    return typer.Exit(2)


@app.command()
def features(
    data: Annotated[Path, typer.Option(help="Directory of contract tables.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write the features to.")],
    as_of: Annotated[str, typer.Option(help="Compute features as of this UTC date/time "
                                            "(default: the latest event in the data).")] = "",
) -> None:
    """Compute point-in-time features for the whole portfolio (DuckDB over Parquet)."""
    import os

    from riskscore.features.batch import compute_features, latest_event, portfolio_snapshots

    try:
        report = validate_dataset(data)
    except DataContractError as exc:
        raise _invalid(exc) from exc
    when = pd.Timestamp(as_of, tz="UTC") if as_of else latest_event(report)
    snapshots = portfolio_snapshots(report, when)
    steps = ("application", "velocity", "links", "activity:movements", "activity:logins",
             "activity:changes")
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task(f"features of {len(snapshots):,} accounts", total=len(steps))
        frame = compute_features(data, snapshots, report=report,
                                 progress=lambda s: progress.update(task, advance=1,
                                                                    description=f"done {s}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, out)
    console.print(f"wrote {len(frame):,} accounts x {frame.shape[1] - 2} features as of {when} "
                  f"to {out}")


@app.command("features-doc")
def features_doc() -> None:
    """Print the feature catalogue as Markdown (the source of docs/features.md)."""
    from riskscore.features.catalogue import markdown

    typer.echo(markdown(), nl=False)


@app.command("policy-check")
def policy_check(
    path: Annotated[Path | None, typer.Argument(
        help="Policy file to check (default: RISKSCORE_POLICY_PATH, else the packaged one).")]
    = None,
) -> None:
    """Validate a decision-policy file and print its bands and rules."""
    from riskscore.policy import PolicyError, load_policy, policy_summary

    try:
        policy = load_policy(path)
    except PolicyError as exc:
        console.print(f"[red]invalid policy:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"policy [bold]{policy.full_version}[/bold] is valid")
    bands = Table(title="Score bands (calibrated probability)")
    bands.add_column("action")
    bands.add_column("from", justify="right")
    for action, threshold in policy.bands.items():
        bands.add_row(action.value, f"{threshold:.2%}")
    console.print(bands)
    rules = Table(title=f"Hard rules ({len(policy.rules)})")
    rules.add_column("code", no_wrap=True)
    rules.add_column("at least", no_wrap=True)
    for column in ("min delay (days)", "when", "message"):
        rules.add_column(column, overflow="fold")
    for row in policy_summary(policy):
        rules.add_row(row["code"], row["at_least"], str(row["min_delay_days"] or ""),
                      row["when"], row["message"])
    console.print(rules)


@app.command("reasons-doc")
def reasons_doc() -> None:
    """Print the reason-code table as Markdown (generated into docs/policy.md)."""
    from riskscore.policy.reasons import markdown

    typer.echo(markdown(), nl=False)
