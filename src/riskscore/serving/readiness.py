"""Readiness across the service's worker processes.

BentoML answers ``/readyz`` from whichever worker takes the connection, and a worker that
has loaded serves while another may still be reading the store into its cache (~12 s at
1M accounts): traffic sent on the first worker's word meets half the capacity, and the
second worker's warm-up competes with it for the cores. Each worker therefore marks itself
ready in a directory its siblings share (named after their parent, BentoML's arbiter), and
reports ready only when every worker the server runs has a mark of a live process.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class WorkerReadiness:
    """Marks of the ready workers of one server, under ``root``.

    >>> readiness = WorkerReadiness(Path("var/run"), workers=2)   # doctest: +SKIP
    >>> readiness.mark()                                         # doctest: +SKIP
    >>> readiness.all_ready()   # False until the other worker has marked too  # doctest: +SKIP
    """

    def __init__(self, root: Path, workers: int) -> None:
        self.workers = workers
        self.directory = root / f"ready-{os.getppid()}"
        self._mark = self.directory / str(os.getpid())

    def mark(self) -> None:
        """This worker has loaded everything it serves with."""
        if self.workers > 1:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._mark.touch()

    def all_ready(self) -> bool:
        """Every worker has marked itself ready and is still alive."""
        if self.workers == 1:
            return True
        try:
            marks = [p.name for p in self.directory.iterdir()]
        except FileNotFoundError:
            return False
        return sum(name.isdigit() and _alive(int(name)) for name in marks) >= self.workers

    def clear(self) -> None:
        """Remove this worker's mark (shutdown), and the directory once it is empty."""
        with contextlib.suppress(FileNotFoundError):
            self._mark.unlink()
        with contextlib.suppress(OSError):
            self.directory.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
