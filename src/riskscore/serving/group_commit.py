"""Group commit for new applications: those waiting when the scorer frees up go together.

Scoring an application is one write transaction, and the store takes one writer at a
time. Under load, requests queue for that writer anyway; here the queue is explicit, and
one scoring thread takes every application waiting (up to ``max_group``) into one
``Scorer.score_applications`` call: one transaction, one model call, one audit insert,
one commit for all of them. Each application's features still see every application
before it, as one call each would. Below saturation a group is one application, so
latency is what it was; at saturation the shared work is paid once a group.

An application that fails (an existing account id, bad data) would roll back its whole
group: the group is then scored again one application at a time, so only that one fails.
A group whose decisions could not be logged is recorded already: each of its callers gets
that error.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from riskscore.contracts import Application, Decision
from riskscore.scoring import DecisionsNotLogged, Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    application: Application
    actor: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Decision]


def _settle(future: asyncio.Future[Decision], decision: Decision | None,
            error: BaseException | None) -> None:
    if future.done():  # the caller went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(decision)


class ApplicationGroups:
    """Scores new applications on one thread, as many at a time as are waiting.

    >>> groups = ApplicationGroups(scorer, max_group=16)   # doctest: +SKIP
    >>> decision = await groups.score(application, "onboarding")   # doctest: +SKIP
    """

    def __init__(self, scorer: Scorer, max_group: int) -> None:
        self.scorer = scorer
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="application-groups",
                                        daemon=True)
        self._thread.start()

    async def score(self, application: Application, actor: str) -> Decision:
        """The decision on ``application``, scored with whatever else is waiting; raises
        what ``Scorer.score_application`` would for it alone."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._queue.put(_Pending(application, actor, loop, future))
        return await future

    def close(self, timeout: float = 10.0) -> None:
        """Score what is already queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            group, stop = [first], False
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            for _actor, same in itertools.groupby(group, key=lambda p: p.actor):
                self._score(list(same))
            if stop:
                return

    def _score(self, group: Sequence[_Pending]) -> None:
        try:
            decisions = self.scorer.score_applications([p.application for p in group],
                                                       group[0].actor)
        except DecisionsNotLogged as exc:  # recorded: scoring them again would conflict
            for pending in group:
                self._deliver(pending, None, exc)
            return
        except Exception as exc:
            if len(group) > 1:  # find which one failed: each alone, so the others go on
                for pending in group:
                    self._score([pending])
                return
            self._deliver(group[0], None, exc)
            return
        for pending, decision in zip(group, decisions, strict=True):
            self._deliver(pending, decision, None)

    @staticmethod
    def _deliver(pending: _Pending, decision: Decision | None,
                 error: BaseException | None) -> None:
        try:
            pending.loop.call_soon_threadsafe(_settle, pending.future, decision, error)
        except RuntimeError:  # the caller's event loop has closed
            log.warning("application %s scored after its caller's loop closed",
                        pending.application.account_id)
