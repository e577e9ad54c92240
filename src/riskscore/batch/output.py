"""Atomic, resumable output of a rescore run.

A run directory holds ``decisions/part-NNNNN.parquet`` (one file per chunk), the change
report and ``manifest.json``. Every file is written to a temporary name and renamed into
place, and the manifest (itself replaced atomically) lists each finished chunk with its
row count and checksum. A run is complete only when the manifest says so, which is the
last thing written: a crash leaves at worst an incomplete manifest and a stray temporary
file, never a half file that looks complete. A rerun with the same inputs keeps the
finished chunks and does the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.batch.decide import DECISION_SCHEMA

MANIFEST = "manifest.json"
DECISIONS = "decisions"
WORK = "_work"


class IncompleteRun(RuntimeError):
    """A run directory that is missing, unfinished or not a rescore run."""


def run_name(as_of: pd.Timestamp) -> str:
    """Directory name of the run as of ``as_of`` (sorts by time)."""
    return "asof=" + as_of.tz_convert("UTC").strftime("%Y-%m-%dT%H%M%SZ")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    _fsync(tmp)
    os.replace(tmp, path)


def atomic_write_parquet(table: pa.Table, path: Path, **options: Any) -> None:
    """Write ``table`` to ``path`` via a temporary file in the same directory + rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, **options)
    _fsync(tmp)
    os.replace(tmp, path)


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, frame.to_csv(index=False).encode())


def data_fingerprint(data_dir: Path) -> str:
    """Names, sizes and modification times of the input tables: a changed input is a new run."""
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                     for p in Path(data_dir).glob("*.parquet"))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


@dataclass
class Manifest:
    """What a run is (its identity) and how far it got."""

    as_of: str
    data: str
    model_version: str
    policy_version: str
    engine: str
    chunk_size: int
    n_accounts: int
    explain: str
    previous: str | None = None
    """The run whose model reasons ``explain == "changed"`` keeps (else ``None``)."""
    chunks: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None

    def identity(self) -> tuple:
        return (self.as_of, self.data, self.model_version, self.policy_version, self.engine,
                self.chunk_size, self.n_accounts, self.explain, self.previous)

    @property
    def n_chunks(self) -> int:
        return max(1, -(-self.n_accounts // self.chunk_size))


class RunWriter:
    """Writes one run directory; resumes it when an unfinished run of the same identity
    is found there, starts it over otherwise."""

    def __init__(self, run_dir: Path, manifest: Manifest) -> None:
        self.run_dir = run_dir
        self.decisions = run_dir / DECISIONS
        self.work = run_dir / WORK
        old = read_manifest(run_dir)
        self.resumed = old is not None and old.identity() == manifest.identity()
        if self.resumed:
            assert old is not None
            self.manifest = old
            self.manifest.chunks = {k: v for k, v in old.chunks.items() if self._intact(v)}
        else:
            if old is not None and old.complete:
                raise IncompleteRun(
                    f"{run_dir} already holds a complete run with different inputs (model "
                    f"{old.model_version}, policy {old.policy_version}); choose another --out "
                    "or remove it")
            shutil.rmtree(run_dir, ignore_errors=True)
            self.manifest = manifest
        self.decisions.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        self._save()

    def _intact(self, entry: dict[str, Any]) -> bool:
        path = self.run_dir / entry["file"]
        return path.is_file() and path.stat().st_size == entry["bytes"]

    def done(self, chunk: int) -> bool:
        return str(chunk) in self.manifest.chunks

    def write_chunk(self, chunk: int, frame: pd.DataFrame) -> None:
        """Write one chunk's decisions atomically, then record it in the manifest."""
        name = f"part-{chunk:05d}.parquet"
        final = self.decisions / name
        table = pa.Table.from_pandas(frame, schema=DECISION_SCHEMA, preserve_index=False)
        atomic_write_parquet(table, final)
        self.manifest.chunks[str(chunk)] = {
            "file": f"{DECISIONS}/{name}", "rows": table.num_rows,
            "bytes": final.stat().st_size, "sha256": _sha256(final)}
        self._save()

    def adopt(self, files: list[Path]) -> None:
        """Record decision files written by another engine (Spark) as the run's chunks."""
        self.manifest.chunks = {}
        for i, path in enumerate(sorted(files)):
            self.manifest.chunks[str(i)] = {
                "file": str(path.relative_to(self.run_dir)),
                "rows": pq.ParquetFile(path).metadata.num_rows,
                "bytes": path.stat().st_size, "sha256": _sha256(path)}
        self._save()

    def finish(self) -> None:
        """Mark the run complete (the last write) and drop the working files."""
        rows = sum(c["rows"] for c in self.manifest.chunks.values())
        if rows != self.manifest.n_accounts:
            raise IncompleteRun(f"{self.run_dir}: chunks hold {rows:,} decisions, expected "
                                f"{self.manifest.n_accounts:,}")
        shutil.rmtree(self.work, ignore_errors=True)
        self.manifest.complete = True
        self.manifest.finished_at = datetime.now(UTC).isoformat()
        self._save()

    def _save(self) -> None:
        atomic_write_bytes(self.run_dir / MANIFEST,
                           json.dumps(asdict(self.manifest), indent=2).encode())


def read_manifest(run_dir: Path) -> Manifest | None:
    """The run's manifest, or ``None`` when there is none (or it is unreadable)."""
    try:
        return Manifest(**json.loads((run_dir / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def complete_runs(root: Path) -> list[tuple[Path, Manifest]]:
    """Complete runs under ``root``, oldest as-of first."""
    runs = [(p, m) for p in sorted(root.glob("asof=*")) if p.is_dir()
            if (m := read_manifest(p)) is not None and m.complete]
    return sorted(runs, key=lambda r: r[1].as_of)


def decision_files(run_dir: Path) -> list[Path]:
    """The decision files of a complete run; raises :class:`IncompleteRun` otherwise."""
    manifest = read_manifest(run_dir)
    if manifest is None or not manifest.complete:
        raise IncompleteRun(f"{run_dir} is not a complete rescore run (no complete "
                            f"{MANIFEST})")
    chunks = sorted(manifest.chunks.values(), key=lambda c: c["file"])
    return [run_dir / c["file"] for c in chunks]


def read_decisions(run_dir: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """All decisions of a complete run (optionally only ``columns``)."""
    tables = [pq.read_table(f, columns=columns) for f in decision_files(run_dir)]
    schema = DECISION_SCHEMA if columns is None else pa.schema(
        [DECISION_SCHEMA.field(c) for c in columns])
    return pa.concat_tables([t.cast(schema) for t in tables]).to_pandas() if tables else \
        schema.empty_table().to_pandas()

