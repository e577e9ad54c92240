"""WorkerReadiness: ready only when every worker of the server has loaded and is alive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from riskscore.serving.readiness import WorkerReadiness


def test_one_worker_needs_no_marks(tmp_path: Path) -> None:
    readiness = WorkerReadiness(tmp_path, workers=1)
    readiness.mark()
    assert readiness.all_ready() and not any(tmp_path.iterdir())


def test_ready_once_every_worker_has_marked(tmp_path: Path) -> None:
    readiness = WorkerReadiness(tmp_path, workers=2)
    assert not readiness.all_ready()
    readiness.mark()
    assert not readiness.all_ready()  # this worker only
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (readiness.directory / str(sibling.pid)).touch()  # a live sibling marks itself
        assert readiness.all_ready()
    finally:
        sibling.kill()
        sibling.wait()
    assert not readiness.all_ready()  # a dead worker's mark does not count


def test_marks_are_per_server_and_cleared_at_shutdown(tmp_path: Path) -> None:
    readiness = WorkerReadiness(tmp_path, workers=2)
    readiness.mark()
    other_server = tmp_path / "ready-1"  # another arbiter's workers
    other_server.mkdir()
    (other_server / str(os.getpid())).touch()
    (readiness.directory / "not-a-pid").touch()
    assert not readiness.all_ready()
    (readiness.directory / "not-a-pid").unlink()
    readiness.clear()
    assert not readiness.directory.exists() and other_server.exists()
