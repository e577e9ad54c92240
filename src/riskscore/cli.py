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


stripe_app = typer.Typer(help="Stripe: actions outbox.", no_args_is_help=True)
ingest_app = typer.Typer(help="Backfill history from a payment processor.", no_args_is_help=True)
app.add_typer(stripe_app, name="stripe")
app.add_typer(ingest_app, name="ingest")


@stripe_app.command("retry-actions")
def stripe_retry_actions(
    limit: Annotated[int, typer.Option(min=1, help="Most pending calls to send.")] = 100,
) -> None:
    """Send the Stripe calls still pending in the outbox (after transient failures)."""
    from riskscore.integrations.stripe import StripeActions
    from riskscore.store import make_engine, upgrade

    engine = make_engine()
    upgrade(engine)
    actions = StripeActions(engine)
    if not actions.live:
        console.print("[yellow]live Stripe actions are off[/yellow] (set RISKSCORE_STRIPE_API_KEY"
                      " and RISKSCORE_STRIPE_LIVE_ACTIONS=true); nothing sent")
        return
    done = actions.retry_pending(limit)
    for status in sorted({r.status for r in done}):
        console.print(f"{status}: {sum(r.status == status for r in done)}")
    still = [r for r in done if r.status == "pending"]
    if still:
        raise typer.Exit(1)


@ingest_app.command("stripe")
def ingest_stripe(
    since: Annotated[str, typer.Option(help="Backfill activity created from this UTC date.")],
    out: Annotated[Path, typer.Option(help="Directory to write the contract tables to.")] = Path(
        "stripe-data"),
    load: Annotated[bool, typer.Option(help="Also load the tables into the store.")] = True,
) -> None:
    """Backfill connected accounts and their charges, refunds, disputes and payouts."""
    from riskscore.integrations.stripe import backfill, stripe_client
    from riskscore.store import InvalidData, StoreError, load_dataset, make_engine, upgrade

    try:
        when = pd.Timestamp(since, tz="UTC").to_pydatetime()
        client = stripe_client()
    except (ValueError, InvalidData) as exc:
        raise _invalid(exc) from exc
    with console.status("listing Stripe accounts") as status:
        result = backfill(client, when, out,
                          progress=lambda a: status.update(f"backfilled {a}"))
    try:
        validate_dataset(out)
    except DataContractError as exc:
        raise _invalid(exc) from exc
    console.print(f"wrote {', '.join(f'{k}={v:,}' for k, v in result.rows.items())} to {out}")
    if load:
        engine = make_engine()
        upgrade(engine)
        try:
            written = load_dataset(out, engine)
        except StoreError as exc:
            raise _invalid(exc) from exc
        console.print(f"loaded into the store: {written}")
