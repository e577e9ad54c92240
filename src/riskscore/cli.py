"""The ``riskscore`` command line: each command is a thin call into one stage."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
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
        table.add_row(*(_number(v) if isinstance(v, float) else f"{v:,}" if isinstance(v, int)
                        else str(v) for v in row))
    return table


def _bar(counts: bool = False) -> Progress:
    """The progress bar every long command shows (``counts``: also done/total)."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn()]
    if counts:
        columns.append(TextColumn("{task.completed}/{task.total}"))
    return Progress(*columns, TimeElapsedColumn(), console=console)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Directory to write the Parquet tables to.")],
    accounts: Annotated[int, typer.Option(min=100, help="Number of connected accounts.")] = 10_000,
    days: Annotated[int, typer.Option(min=60, help="Length of the simulated history.")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
    fraud_rate: Annotated[float, typer.Option(min=0.0, max=0.2,
                                              help="Share of fraudulent accounts.")] = 0.02,
    start: Annotated[str, typer.Option(help="First day of the history (UTC date); the demo "
                                            "ends it at the end of today, so an application "
                                            "scored now sits inside a full day of "
                                            "history.")] = "2025-01-01",
) -> None:
    """Simulate a payments platform's connected accounts, activity and fraud labels."""
    from riskscore.simulate import STAGES, SimulationConfig, write_tables
    from riskscore.simulate import simulate as run

    try:
        first_day = pd.Timestamp(start, tz="UTC").normalize().to_pydatetime()
    except ValueError as exc:
        raise typer.BadParameter(f"not a date: {start!r}", param_hint="--start") from exc
    cfg = SimulationConfig(n_accounts=accounts, days=days, seed=seed, fraud_rate=fraud_rate,
                           start=first_day)
    started = time.perf_counter()
    with _bar() as progress:
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
    if report.missing_tables or report.missing_columns or report.empty_columns:
        console.print(f"[yellow]absent (optional):[/yellow] tables {report.missing_tables}, "
                      f"columns {report.missing_columns}, entirely null {report.empty_columns}")
    _warn_dropped(report)


def _number(value: float) -> str:
    """Money-sized values with thousands separators, rates with four decimals."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4f}"


def _invalid(exc: Exception) -> typer.Exit:
    console.print(f"[red]invalid data:[/red] {exc}")
    return typer.Exit(2)


@contextlib.contextmanager
def _dropped_named_above() -> Iterator[None]:
    """Silence ``DroppedFeaturesWarning`` inside: :func:`_warn_dropped` has named them."""
    from riskscore.features.batch import DroppedFeaturesWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedFeaturesWarning)
        yield


def _print_warnings(report) -> None:
    for message in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {message}")


def _warn_dropped(report, rows_checked: bool = True) -> None:
    """Print the data's warnings (unless its row checks still run: the caller prints them
    after) and name the features it cannot support."""
    from riskscore.features.availability import describe, missing_inputs

    if rows_checked:
        _print_warnings(report)
    dropped = missing_inputs(report)
    if dropped:
        console.print(f"[yellow]warning:[/yellow] {len(dropped)} features dropped, their inputs "
                      f"are absent: {describe(dropped)}")


@app.command()
def features(
    data: Annotated[Path, typer.Option(help="Directory of contract tables.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write the features to.")],
    as_of: Annotated[str, typer.Option(help="Compute features as of this UTC date/time "
                                            "(default: the latest event in the data).")] = "",
) -> None:
    """Compute point-in-time features for the whole portfolio (DuckDB over Parquet)."""
    import os

    from riskscore.features.batch import (
        STAGES,
        compute_features,
        latest_event,
        portfolio_snapshots,
    )

    try:
        report = validate_dataset(data, background=True)
    except DataContractError as exc:
        raise _invalid(exc) from exc
    _warn_dropped(report, rows_checked=False)
    when = pd.Timestamp(as_of, tz="UTC") if as_of else latest_event(report)
    snapshots = portfolio_snapshots(report, when)
    progress, advance = _stage_progress(len(STAGES), STAGES,
                                        f"features of {len(snapshots):,} accounts")
    with progress, _dropped_named_above():
        try:
            frame = compute_features(data, snapshots, report=report, progress=advance)
        except DataContractError as exc:
            raise _invalid(exc) from exc
    _print_warnings(report)
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


def _stage_progress(total: int, stages: tuple[str, ...], title: str):
    """A rich progress bar advanced by named stages; other names only relabel it."""
    progress = _bar()
    task = progress.add_task(title, total=total)

    def advance(stage: str) -> None:
        progress.update(task, advance=1 if stage in stages else 0, description=stage)

    return progress, advance


def _training_config(horizon_days: int, negative_rate: float | None, seed: int):
    from riskscore.training.config import TrainingConfig

    rate = {} if negative_rate is None else {"negative_rate": negative_rate}
    return TrainingConfig(horizon_days=horizon_days, seed=seed, **rate)


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Directory of contract tables (docs/data.md).")],
    params: Annotated[Path | None, typer.Option(help="JSON of LightGBM parameters (from "
                                                     "`riskscore tune`).")] = None,
    horizon_days: Annotated[int, typer.Option(min=7, help="Label horizon after a snapshot.")] = 60,
    negative_rate: Annotated[float | None, typer.Option(
        min=0.01, max=1.0, help="Share of good train and validation snapshots kept before "
        "features are computed (weighted back up; default TrainingConfig's 0.25). 1 keeps "
        "all.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train LightGBM and baselines out of time, log to MLflow, register a challenger."""
    import json

    from riskscore.dataset import require_for_training
    from riskscore.training.pipeline import STAGES
    from riskscore.training.pipeline import train as run

    try:
        report = validate_dataset(data)
        require_for_training(report)
    except DataContractError as exc:
        raise _invalid(exc) from exc
    _warn_dropped(report)
    extra = json.loads(params.read_text())["params"] if params else None
    cfg = _training_config(horizon_days, negative_rate, seed)
    progress, advance = _stage_progress(len(STAGES), STAGES, "training")
    try:
        with progress, _dropped_named_above():
            result = run(report.root, cfg, extra, advance)
    except DataContractError as exc:
        raise _invalid(exc) from exc
    console.print(_frame_table("Snapshots by split", result.counts.reset_index()))
    console.print(_frame_table("Out-of-time test set", result.metrics.reset_index(
        names="metric")))
    console.print(_frame_table("Recall at 5% FPR by segment", result.segments))
    console.print(f"MLflow run {result.run_id}; registered version {result.version} as "
                  f"[bold]challenger[/bold] ({sum(result.seconds.values()):.0f}s: "
                  f"{result.seconds})")


@app.command()
def tune(
    data: Annotated[Path, typer.Option(help="Directory of contract tables.")],
    out: Annotated[Path, typer.Option(help="Where to write the best parameters (JSON).")] =
        Path("best_params.json"),
    trials: Annotated[int, typer.Option(min=1, max=500, help="Most trials to run.")] = 20,
    timeout: Annotated[float, typer.Option(min=10, help="Most seconds to search.")] = 600,
    horizon_days: Annotated[int, typer.Option(min=7)] = 60,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Bounded Optuna search on the validation period; each trial an MLflow child run."""
    from riskscore.training.tune import tune as run

    progress = _bar()
    with progress:
        task = progress.add_task("tuning", total=trials)
        best = run(data, out, trials, timeout, _training_config(horizon_days, 1.0, seed),
                   lambda n, v: progress.update(task, advance=1,
                                                description=f"trial {n}: PR-AUC {v:.4f}"))
    console.print(f"best validation PR-AUC {best['valid_pr_auc']:.4f} after {best['trials']} "
                  f"trials: {best['params']} -> {out}")


@app.command()
def promote(
    force: Annotated[bool, typer.Option(help="Promote even if the gate fails (recorded).")] =
        False,
    reason: Annotated[str, typer.Option(help="Why (required with --force).")] = "",
) -> None:
    """Make the challenger the champion if it is at least as good on the champion's test set."""
    from riskscore.training.promotion import promote as run
    from riskscore.training.registry import RegistryError

    if force and not reason:
        console.print("[red]--force needs --reason[/red] (it is recorded on the model version)")
        raise typer.Exit(2)
    try:
        gate = run(force, reason or None)
    except RegistryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if not gate.table.empty:
        console.print(_frame_table(f"Gate on {gate.champion}'s test set",
                                   gate.table.reset_index(names="metric")))
    for note in gate.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    verdict = "passed" if gate.passed else "FAILED"
    if gate.promoted:
        how = " [bold red](forced, recorded)[/bold red]" if gate.forced else ""
        console.print(f"gate {verdict}: {gate.challenger} is now [bold]champion[/bold]{how}")
    else:
        console.print(f"gate {verdict}: champion stays {gate.champion}")
        raise typer.Exit(0 if gate.passed else 1)


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


@app.command()
def load(
    data: Annotated[Path, typer.Option(help="Directory of contract tables to load.")],
) -> None:
    """Create or migrate the entity store and load a dataset into it (keyed hashes only)."""
    from riskscore.settings import get_settings
    from riskscore.store.engine import make_engine
    from riskscore.store.errors import StoreError
    from riskscore.store.load import load_dataset
    from riskscore.store.migrate import upgrade

    url = get_settings().resolved_database_url()
    started = time.perf_counter()
    with console.status(f"loading {data} into the entity store"):
        upgrade(url)
        try:
            rows = load_dataset(data, make_engine(url))
        except StoreError as exc:
            raise _invalid(exc) from exc
    console.print(f"loaded {', '.join(f'{k}={v:,}' for k, v in rows.items())} in "
                  f"{time.perf_counter() - started:.0f}s")


@app.command("example-application")
def example_application() -> None:
    """Print a sample onboarding application (JSON) for the scoring API."""
    import json

    from riskscore.contracts import Application

    example = dict(Application.model_config["json_schema_extra"]["example"])
    for generated in ("account_id", "created_at"):  # fresh for every call
        example.pop(generated)
    typer.echo(json.dumps(example, indent=2))


@app.command("export-model")
def export_model(
    models_dir: Annotated[Path, typer.Option(help="Where the packaged bundle goes.")] =
        Path("models"),
) -> None:
    """Package the champion for serving: models/champion and the BentoML model store."""
    from riskscore.serving.export import export_champion
    from riskscore.training.registry import RegistryError

    try:
        path, tag = export_champion(models_dir)
    except RegistryError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"champion bundle in {path}; BentoML model {tag}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the champion locally with BentoML (the service in riskscore.serving.service)."""
    import os
    import sys

    from riskscore.settings import get_settings
    from riskscore.training.registry import CHAMPION, RegistryError
    from riskscore.training.registry import load as load_model

    settings = get_settings()
    if not (settings.bento_model or settings.model_path):
        try:
            champion = load_model(CHAMPION, settings)
        except RegistryError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        console.print(f"serving champion {champion.label} on http://{host}:{port}")
    if not settings.api_keys:
        console.print("[yellow]no RISKSCORE_API_KEYS set: every scoring call will get 401"
                      "[/yellow]")
    os.environ.setdefault("BENTOML_HOME", str((settings.home / "bentoml").resolve()))
    os.execv(sys.executable, [sys.executable, "-m", "bentoml", "serve",
                              "riskscore.serving.service:RiskScore", "--host", host,
                              "--port", str(port)])


@app.command()
def rescore(
    as_of: Annotated[str, typer.Option(help="Rescore as of this UTC date/time (features use "
                                            "only what was known before it).")],
    out: Annotated[Path, typer.Option(help="Root directory of rescore runs (one "
                                           "subdirectory per as-of).")],
    data: Annotated[Path, typer.Option(help="Directory of contract tables.")] = Path("data"),
    engine: Annotated[str, typer.Option(help="local (DuckDB + chunks) or spark.")] = "local",
    chunk_size: Annotated[int | None, typer.Option(min=1, help="Accounts per chunk (default "
                                                   "RISKSCORE_RESCORE_CHUNK_SIZE).")] = None,
    previous: Annotated[Path | None, typer.Option(help="Run to compare with (default: the "
                                                  "latest earlier run under --out).")] = None,
    stripe_actions: Annotated[bool, typer.Option(help="Hand changed decisions to the Stripe "
                                                 "actions outbox (dry-run unless live).")]
        = False,
) -> None:
    """Rescore the portfolio with the champion: decisions to Parquet and a change report."""
    from riskscore.batch.output import IncompleteRun
    from riskscore.batch.rescore import ENGINES
    from riskscore.batch.rescore import rescore as run
    from riskscore.training.registry import RegistryError

    try:
        when = pd.Timestamp(as_of)
    except ValueError as exc:
        console.print(f"[red]invalid --as-of {as_of!r}:[/red] not a date/time ({exc})")
        raise typer.Exit(2) from exc
    if pd.isna(when):
        console.print(f"[red]invalid --as-of {as_of!r}:[/red] not a date/time")
        raise typer.Exit(2)
    if engine not in ENGINES:
        console.print(f"[red]invalid --engine {engine!r}:[/red] use {' or '.join(ENGINES)}")
        raise typer.Exit(2)
    with _bar(counts=True) as progress:
        task = progress.add_task("rescoring", total=1)

        def show(label: str, done: int, total: int) -> None:
            progress.update(task, description=label, completed=done, total=total)

        try:
            result = run(data, when, out, engine=engine, chunk_size=chunk_size,
                         previous=previous, progress=show)
        except DataContractError as exc:
            raise _invalid(exc) from exc
        except IncompleteRun as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        except RegistryError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    _rescore_summary(result)
    if stripe_actions:
        _rescore_to_stripe(result.report.changes)


def _rescore_summary(result) -> None:  # a batch.rescore.RescoreResult
    m, report = result.manifest, result.report
    resumed = f", resumed {result.resumed_chunks} of {m.n_chunks} chunks" \
        if result.resumed_chunks else ""
    console.print(f"rescored [bold]{m.n_accounts:,}[/bold] accounts as of {m.as_of} with "
                  f"{m.model_version}, policy {m.policy_version} ({m.engine}{resumed}) -> "
                  f"{result.run_dir}")
    against = f"since {report.previous}" if report.previous else \
        "no previous run: compared with approve"
    console.print(_frame_table(f"Accounts by action ({against})", report.by_action))
    console.print(_frame_table("Reasons (accounts)", report.by_reason.head(15)))
    top = report.changes.head(10).assign(
        was=report.changes["previous_action"].fillna("-"),
        reason_codes=report.changes["reason_codes"].str.split(";").str[:3].str.join(" "))[
        ["account_id", "was", "action", "delay_days", "score", "reason_codes"]]
    console.print(_frame_table(f"{len(report.changes):,} changed accounts, riskiest first",
                               top))
    console.print(f"change report: {result.run_dir / 'report'}")


def _rescore_to_stripe(changes: pd.DataFrame) -> None:
    from riskscore.batch.actions import hand_to_stripe

    with _bar(counts=True) as progress:
        task = progress.add_task("Stripe actions outbox", total=len(changes))
        live, statuses = hand_to_stripe(changes, advance=lambda: progress.advance(task))
    mode = "live" if live else "dry-run (RISKSCORE_STRIPE_LIVE_ACTIONS off)"
    shown = ", ".join(f"{k}={v:,}" for k, v in sorted(statuses.items())) or "nothing"
    console.print(f"handed {len(changes):,} changed decisions to Stripe, {mode}: {shown}")
    if statuses.get("failed") or statuses.get("invalid"):
        raise typer.Exit(1)
