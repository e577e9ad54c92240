"""Group commit for new applications: those waiting when the scorer frees up go together.

Recording an application is one write transaction, and the store takes one writer at a
time. Under load, requests queue for that writer anyway; here the queue is explicit, and
one recording thread takes every application waiting (up to ``max_group``) into one
``Scorer.record_applications`` call: one transaction, one commit for all of them. Each
application's features still see every application before it, as one call each would.
A deciding thread takes every recorded group waiting into one ``Scorer.decisions_for``
call (one model call) while the recording thread goes back to the store, and hands the
decisions back to the recording thread, whose next transaction logs them: at saturation
one commit records a group and logs the one before it. The callers get their decisions
once that transaction has committed. Below saturation an application usually arrives
alone, with nothing else queued: it is recorded, decided and logged in one transaction
(``Scorer.score_applications``), the model under the write lock, which then costs less
than a second transaction and two thread hand-offs.

With several workers on a SQLite store the recording thread sends each group to the
store's recorder process (``serving.recorder``), which records every worker's groups,
and waits for its answer; the rest is the same.

An application that fails to record (an existing account id, bad data) would roll back
its whole transaction: the decisions it carried are then logged alone, and the group is
recorded again one application at a time, so only that one fails. Decisions the audit log
refuses are not returned: their callers get ``DecisionsNotLogged``, and their
applications stay recorded.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import operator
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from riskscore.contracts import Application, Decision
from riskscore.scoring import Decided, Recorded, Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    application: Application
    actor: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Decision]


@dataclass(frozen=True)
class _Group:
    """Pending applications recorded together, waiting for their decisions."""

    pending: list[_Pending]
    recorded: Recorded


@dataclass(frozen=True)
class _Unlogged:
    """Decisions made, waiting for the audit log before their callers get them."""

    pending: list[_Pending]
    decided: Decided


class Recorder(Protocol):
    """What records applications and logs decisions: ``Scorer`` or
    ``serving.recorder.RecorderClient``."""

    def record_applications(self, applications: Sequence[Application],
                            log: Sequence[Decided] = ()) -> Recorded: ...

    def log_decisions(self, decided: Sequence[Decided]) -> None: ...

    def score_applications(self, applications: Sequence[Application], actor: str
                           ) -> list[Decision]: ...


_DECIDER_DONE = object()
"""Put on the recording queue by the deciding thread when it stops."""


class ShuttingDown(RuntimeError):
    """An application arrived after the groups were closed: it is not scored."""

    def __init__(self) -> None:
        super().__init__("the scoring service is shutting down")


def _settle(future: asyncio.Future[Decision], decision: Decision | None,
            error: BaseException | None) -> None:
    if future.done():  # the caller went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(decision)


def _drain(q: queue.SimpleQueue, first: object, limit: int) -> list:
    """``first`` and whatever else ``q`` holds now, up to ``limit`` items in all."""
    items = [first]
    while len(items) < limit:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            break
    return items


class ApplicationGroups:
    """Records new applications on one thread and decides on them on another, as many at
    a time as are waiting.

    >>> groups = ApplicationGroups(scorer, max_group=16)   # doctest: +SKIP
    >>> decision = await groups.score(application, "onboarding")   # doctest: +SKIP
    """

    def __init__(self, scorer: Scorer, max_group: int, alone: bool = True,
                 recorder: Recorder | None = None) -> None:
        self.scorer = scorer
        self.max_group = max_group
        # Records and logs: the scorer, or a client of the recorder process
        # (serving.recorder), which records every worker's applications.
        self.recorder: Recorder = recorder or scorer
        self.alone = alone  # a lone application: recorded and decided in one transaction
        # The recording thread's queue: new applications (_Pending), decisions to log
        # (_Unlogged), None to stop and _DECIDER_DONE once the deciding thread has stopped.
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._recorded: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [threading.Thread(target=target, name=name, daemon=True) for
                         target, name in ((self._record_loop, "application-groups"),
                                          (self._decide_loop, "application-decisions"))]
        for thread in self._threads:
            thread.start()

    async def score(self, application: Application, actor: str) -> Decision:
        """The decision on ``application``, scored with whatever else is waiting; raises
        what ``Scorer.score_application`` would for it alone."""
        if self._closed:
            raise ShuttingDown
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._queue.put(_Pending(application, actor, loop, future))
        return await future

    def close(self, timeout: float = 10.0) -> None:
        """Score and log what is already queued, then stop the threads; later
        applications raise :class:`ShuttingDown`."""
        self._closed = True
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _record_loop(self) -> None:
        stopping = False
        while True:
            items = _drain(self._queue, self._queue.get(), 2 * self.max_group)
            if self.alone and len(items) == 1 and isinstance(items[0], _Pending):
                self._score_alone(items[0])
                continue
            applications = [i for i in items if isinstance(i, _Pending)]
            unlogged = [i for i in items if isinstance(i, _Unlogged)]
            if stopping:  # the deciding thread is stopping: nothing new would be decided
                for pending in applications:
                    self._deliver(pending, None, ShuttingDown())
                applications = []
            for start in range(0, len(applications), self.max_group):
                group = applications[start:start + self.max_group]
                for _actor, same in itertools.groupby(group, key=lambda p: p.actor):
                    self._record(list(same), unlogged)
                    unlogged = []  # logged with the first group
            if unlogged:
                self._log_alone(unlogged)
            if None in items and not stopping:  # after this batch's groups: the decider
                stopping = True                  # decides them, then stops
                self._recorded.put(None)
            if _DECIDER_DONE in items:
                return

    def _score_alone(self, pending: _Pending) -> None:
        try:
            decision, = self.recorder.score_applications([pending.application],
                                                         pending.actor)
        except Exception as exc:
            self._deliver(pending, None, exc)
        else:
            self._deliver(pending, decision, None)

    def _record(self, group: list[_Pending], unlogged: list[_Unlogged]) -> None:
        try:
            recorded = self.recorder.record_applications([p.application for p in group],
                                                         log=[u.decided for u in unlogged])
        except Exception as exc:
            if unlogged:  # the transaction carried decisions: log them, then try again
                self._log_alone(unlogged)
                self._record(group, [])
            elif len(group) > 1:  # find which one failed: each alone, so the others go on
                for pending in group:
                    self._record([pending], [])
            else:
                self._deliver(group[0], None, exc)
            return
        self._settle_logged(unlogged)
        self._recorded.put(_Group(group, recorded))

    def _log_alone(self, unlogged: list[_Unlogged]) -> None:
        try:
            self.recorder.log_decisions([u.decided for u in unlogged])
        except Exception as exc:  # DecisionsNotLogged: no unlogged decision is returned
            log.exception("decisions on %d application(s) were not logged",
                          sum(len(u.pending) for u in unlogged))
            for u in unlogged:
                for p in u.pending:
                    self._deliver(p, None, exc)
            return
        self._settle_logged(unlogged)

    def _settle_logged(self, logged: list[_Unlogged]) -> None:
        for u in logged:
            for p, decision in zip(u.pending, u.decided.decisions, strict=True):
                self._deliver(p, decision, None)

    def _decide_loop(self) -> None:
        while (first := self._recorded.get()) is not None:
            items = _drain(self._recorded, first, self.max_group)
            groups = [g for g in items if g is not None]
            for _actor, same in itertools.groupby(groups, key=lambda g: g.pending[0].actor):
                self._decide(list(same))
            if None in items:
                break
        self._queue.put(_DECIDER_DONE)

    def _decide(self, groups: Sequence[_Group]) -> None:
        pending = [p for g in groups for p in g.pending]
        recorded = functools.reduce(operator.add, (g.recorded for g in groups))
        try:
            decided = self.scorer.decisions_for(recorded, pending[0].actor)
        except Exception as exc:  # recorded already: deciding them again would not help
            log.exception("decisions on %d recorded application(s) failed", len(pending))
            for p in pending:
                self._deliver(p, None, exc)
            return
        self._queue.put(_Unlogged(pending, decided))

    @staticmethod
    def _deliver(pending: _Pending, decision: Decision | None,
                 error: BaseException | None) -> None:
        try:
            pending.loop.call_soon_threadsafe(_settle, pending.future, decision, error)
        except RuntimeError:  # the caller's event loop has closed
            log.warning("application %s scored after its caller's loop closed",
                        pending.application.account_id)
