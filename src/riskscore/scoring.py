"""The Scorer: the one place that turns an account into a decision.

Serving, batch rescoring and Stripe webhooks all call it: features (online, from the
entity store) -> calibrated model score and contributions -> policy -> reasons ->
audit log. When the model cannot score, the policy fails closed (manual review).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from riskscore.contracts import Application, Decision
from riskscore.features.application import application_features
from riskscore.features.online import (
    ONBOARDING_FEATURES,
    account_online_features,
    application_online_features,
)
from riskscore.model import RiskModel
from riskscore.policy import Policy, PolicyOutcome, load_policy
from riskscore.settings import Settings, get_settings
from riskscore.store.engine import (
    SQLITE_CACHE_MIB,
    WriteLock,
    checkpoint_in_background,
    lock_application_writers,
    make_engine,
    session_factory,
)
from riskscore.store.hashing import IdentifierHasher
from riskscore.store.models import Decision as DecisionRow
from riskscore.store.models import table_of
from riskscore.store.record import insert_rows, record_application

log = logging.getLogger(__name__)
Features = Mapping[str, float]
STORE_TABLES = ("identifiers", "signups", "accounts", "decisions", "known_fraud",
                "signup_hours")
"""Tables whose indexes scoring an application reads or writes (to warm a cache with)."""
ONLINE_HASH_CACHE = 1024
"""Hashes the scorer keeps per identifier kind. Online, most identifiers are new (an
application's email, phone, bank account...); only shared devices and IPs repeat. A
bulk-load-sized cache would grow by every application's identifiers and the garbage
collector's full passes with it (in the service at 100 req/s: 20 to 33 ms in 20 s)."""


class DecisionsNotLogged(RuntimeError):
    """Decisions were made but could not be written to the audit log, so they are not
    returned (nothing is acted on unlogged). New applications are recorded by then: score
    them again with ``score_account``."""

    def __init__(self, account_ids: Sequence[str]) -> None:
        self.account_ids = list(account_ids)
        super().__init__(f"the decisions on {len(self.account_ids)} account(s) could not be "
                         f"written to the audit log: {', '.join(self.account_ids[:5])}")

    def __reduce__(self) -> tuple[Any, ...]:  # pickled (serving.recorder) as constructed
        return type(self), (self.account_ids,)


@dataclass(frozen=True)
class Recorded:
    """New applications recorded in the store, with the features they were recorded with,
    not decided on yet (``Scorer.record_applications``)."""

    account_ids: list[str]
    features: list[Features]
    created_at: list[datetime]

    def __add__(self, other: Recorded) -> Recorded:
        return Recorded(self.account_ids + other.account_ids, self.features + other.features,
                        self.created_at + other.created_at)

    def slice(self, start: int, stop: int) -> Recorded:
        """The applications ``start`` to ``stop`` (a group recorded with others)."""
        return Recorded(self.account_ids[start:stop], self.features[start:stop],
                        self.created_at[start:stop])


Records = list[tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Prepared:
    """New applications ready to record: their store rows (``Application.to_records``)
    and own features, all that needs no store (``Scorer.prepare``, in any process)."""

    records: Records
    own: list[Features]

    def __add__(self, other: Prepared) -> Prepared:
        return Prepared(self.records + other.records, self.own + other.own)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Decided:
    """Decisions and the audit rows that log them, not written yet
    (``Scorer.decisions_for``)."""

    decisions: list[Decision]
    audit: list[dict[str, Any]]


def _log(session: Session, decided: Sequence[Decided]) -> None:
    rows = [row for d in decided for row in d.audit]
    if rows:
        insert_rows(session.connection(), table_of(DecisionRow), rows)


def _log_or_refusal(session: Session, decided: Decided) -> Exception | None:
    """Log ``decided`` in a SAVEPOINT of the session's transaction: ``None``, or the error
    of an audit log that refused them (the transaction goes on without them)."""
    try:
        with session.begin_nested():
            _log(session, [decided])
    except Exception as exc:
        return exc
    return None


@dataclass(frozen=True)
class ModelScore:
    """A calibrated probability and the per-feature contributions behind it."""

    probability: float
    contributions: dict[str, float]


def model_scores(model: RiskModel, rows: Sequence[Features], threads: int = 1
                 ) -> list[ModelScore | None]:
    """Score many feature rows at once; a row the model cannot score gets ``None``.
    ``threads``: for the TreeSHAP contributions of a batch (one row uses one)."""
    if not rows:
        return []
    x = model.matrix(list(rows))
    prob = model.predict_proba(x)
    contrib = model.contributions(x, threads if len(rows) > 1 else 1)[:, :-1]
    out: list[ModelScore | None] = []
    for p, c in zip(prob, contrib, strict=True):
        if not math.isfinite(p):
            out.append(None)
            continue
        out.append(ModelScore(float(p), dict(zip(model.feature_names, c.tolist(),
                                                 strict=True))))
    return out


def inputs_hash(account_id: str, features: Features) -> str:
    """SHA-256 of what the decision was based on, for the audit log: the account id and
    the feature names (sorted) as JSON, then their values as float64 (missing: NaN).

    Values go in as bytes rather than JSON: printing 175 floats cost ~0.14 ms a decision.
    """
    names = sorted(features)
    values = np.array([features[n] for n in names], dtype=np.float64)  # None -> NaN
    digest = hashlib.sha256(json.dumps([account_id, names]).encode())
    digest.update(values.tobytes())
    return digest.hexdigest()


class Scorer:
    """Features -> model -> policy -> decision, with the audit log in the store.

    ``model`` may be ``None`` (nothing loaded): every decision is then the policy's
    fail-closed manual review. ``challenger``, when given, is scored in shadow: its score
    and action ride along in ``Decision.shadow`` and the audit log, never acted on.
    """

    def __init__(self, engine: Engine, model: RiskModel | None, policy: Policy,
                 challenger: RiskModel | None = None, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.engine = engine
        # A writing transaction (an application recorded, decisions logged) takes SQLite's
        # write lock up front, queued on ``write_lock`` across threads and worker processes,
        # so an application's features are read and it is recorded with no writer between.
        self.write_lock = WriteLock(engine)
        self.sessions: sessionmaker[Session] = session_factory(
            engine.execution_options(sqlite_begin_immediate=True))
        self.read_sessions: sessionmaker[Session] = session_factory(engine)
        self.model = model
        self.challenger = challenger
        self.policy = policy
        self.hasher = IdentifierHasher.from_settings(self.settings, ONLINE_HASH_CACHE)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, shadow: bool = False,
                      cache_mib: int = SQLITE_CACHE_MIB) -> Scorer:
        """The champion from the registry (or a bundle path), the configured policy and store
        (SQLite connections with ``cache_mib`` of page cache)."""
        from riskscore.training import registry

        settings = settings or get_settings()
        if settings.bento_model:
            import bentoml

            model = RiskModel.load(bentoml.models.get(settings.bento_model).path)
        elif settings.model_path:
            model = RiskModel.load(settings.model_path)
        else:
            model = registry.load(registry.CHAMPION, settings).model
        challenger = None
        if shadow:
            try:
                challenger = registry.load(registry.CHALLENGER, settings).model
            except registry.RegistryError:
                log.info("no challenger in the registry: shadow scoring off")
        return cls(make_engine(settings.resolved_database_url(), cache_mib=cache_mib), model,
                   load_policy(settings.policy_path), challenger, settings)

    def checkpoint_in_background(self) -> threading.Event | None:
        """Start the WAL checkpoint thread the service runs beside this scorer (SQLite; see
        ``store.engine.checkpoint_in_background``), queued on this scorer's write lock.
        The event that stops it, or ``None``."""
        return checkpoint_in_background(self.engine, self.settings.sqlite_checkpoint_seconds,
                                        self.settings.sqlite_checkpoint_bound_pages,
                                        self.write_lock)

    @property
    def model_version(self) -> str:
        return self.model.version if self.model else "unavailable"

    def score_application(self, application: Application, actor: str) -> Decision:
        """Record a new application and decide on it; its identifiers are then visible to
        later applications' duplicate and velocity features."""
        return self.score_applications([application], actor)[0]

    def score_applications(self, applications: Sequence[Application], actor: str
                           ) -> list[Decision]:
        """Record, decide on and log several new applications in one transaction (group
        commit): each one's features see the applications before it, exactly as one call
        each would, and the group shares one model call, one audit insert and one commit.

        The model and policy then run under the write lock; a caller under load that
        wants the lock short uses :meth:`record_applications` and :meth:`decisions_for`.

        All or nothing: on any error recording the group (``store.errors.DuplicateAccount``,
        ``InvalidData``) nothing of it is written. Raises :class:`DecisionsNotLogged` when
        the audit log refuses the decisions: the group is recorded without them.
        """
        return self.score_prepared(self.prepare(applications), actor)

    def score_prepared(self, prepared: Prepared, actor: str) -> list[Decision]:
        """:meth:`score_applications` for applications prepared already (perhaps by
        another process: ``serving.recorder``)."""
        with self.write_lock(), self.sessions() as session, session.begin():
            decided = self.decisions_for(self._record(session, prepared), actor)
            refused = _log_or_refusal(session, decided)
        if refused is not None:
            raise DecisionsNotLogged([d.account_id for d in decided.decisions]) from refused
        return decided.decisions

    def record_applications(self, applications: Sequence[Application],
                            log: Sequence[Decided] = ()) -> Recorded:
        """Record new applications in one transaction, each with its features as of its
        creation (the applications before it included); they are not decided yet. ``log``:
        earlier decisions written to the audit log in the same transaction (one commit
        instead of two under load).

        Hashing and the applications' own features come before the write lock; the
        store's features (duplicates, cluster, velocity) and the recording hold it. Raises
        as :meth:`score_applications` does; on an error nothing is written, ``log``
        included.
        """
        return self.record_prepared(self.prepare(applications), log)

    def prepare(self, applications: Sequence[Application]) -> Prepared:
        """What recording ``applications`` needs that needs no store."""
        records = [application.to_records(self.hasher) for application in applications]
        return Prepared(records, [application_features(account, signup)
                                  for account, signup in records])

    def record_prepared(self, prepared: Prepared, log: Sequence[Decided] = ()) -> Recorded:
        """:meth:`record_applications` for applications prepared already (perhaps by
        another process: ``serving.recorder``)."""
        with self.write_lock(), self.sessions() as session, session.begin():
            _log(session, log)
            return self._record(session, prepared)

    def _record(self, session: Session, prepared: Prepared) -> Recorded:
        """Each application's store features, then its rows, in the caller's writing
        transaction (any error rolls the whole group back)."""
        lock_application_writers(session)
        rows: list[Features] = []
        for (account, signup), features in zip(prepared.records, prepared.own, strict=True):
            features = application_online_features(session, account, signup, self.hasher,
                                                   account["created_at"], own=features)
            record_application(session, account, signup, hasher=self.hasher,
                                onboarding_features={k: features.get(k)
                                                     for k in ONBOARDING_FEATURES},
                                savepoint=False)
            rows.append(features)
        return Recorded([account["account_id"] for account, _ in prepared.records], rows,
                        [account["created_at"] for account, _ in prepared.records])

    def decisions_for(self, recorded: Recorded, actor: str) -> Decided:
        """Decisions on recorded applications and their audit rows, not logged yet: for a
        caller that logs them with its next :meth:`record_applications`."""
        return self._decided(recorded.account_ids, recorded.features, recorded.created_at,
                             actor)

    def score_account(self, account_id: str, actor: str,
                      as_of: datetime | None = None) -> Decision:
        """Decide on a stored account from its history before ``as_of`` (default now).

        Raises ``store.errors.AccountNotFound`` for an unknown id.
        """
        return self.score_accounts([account_id], actor, as_of)[0]

    def score_accounts(self, account_ids: Sequence[str], actor: str,
                       as_of: datetime | None = None) -> list[Decision]:
        """Decide on many stored accounts: their features read in one snapshot of the store
        (no write lock), one batched model call, one audit insert.

        Raises ``store.errors.AccountNotFound`` (nothing is written) for an unknown id.
        """
        as_of = as_of or datetime.now(UTC)
        with self.read_sessions() as session, session.begin():
            rows = [account_online_features(session, a, as_of) for a in account_ids]
        return self._decide_and_log(account_ids, rows, [as_of] * len(rows), actor)

    def decide(self, account_ids: Sequence[str], rows: Sequence[Features],
               scored_at: datetime) -> list[Decision]:
        """Decisions for precomputed feature rows (batch rescoring); nothing is written."""
        return self._decisions(account_ids, rows, [scored_at] * len(rows),
                               self.settings.model_threads)

    def _decisions(self, account_ids: Sequence[str], rows: Sequence[Features],
                   scored_at: Sequence[datetime], threads: int) -> list[Decision]:
        scores = self._scores(self.model, rows, threads)
        return [self._decision(a, s, f, t)
                for a, s, f, t in zip(account_ids, scores, rows, scored_at, strict=True)]

    def _decide_and_log(self, account_ids: Sequence[str], rows: Sequence[Features],
                        scored_at: Sequence[datetime], actor: str) -> list[Decision]:
        """Decisions for the rows, written to the audit log before they are returned."""
        decided = self._decided(account_ids, rows, scored_at, actor)
        self.log_decisions([decided])
        return decided.decisions

    def _decided(self, account_ids: Sequence[str], rows: Sequence[Features],
                 scored_at: Sequence[datetime], actor: str) -> Decided:
        """Decisions for the rows and their audit rows, nothing written. Scored on one
        thread: online, the other cores serve requests (a second LightGBM thread made a
        group of 16 applications ~30% dearer on two busy cores)."""
        decisions = self._decisions(account_ids, rows, scored_at, threads=1)
        if self.challenger is not None:
            decisions = [d.model_copy(update={"shadow": shadow}) for d, shadow in
                         zip(decisions, self._shadow(rows), strict=True)]
        now = datetime.now(UTC)
        audit = [{
            "decision_id": d.decision_id, "account_id": a, "created_at": now, "actor": actor,
            "inputs_hash": inputs_hash(a, f), "score": d.score, "action": str(d.action),
            "delay_days": d.delay_days,
            "reasons": [r.model_dump(mode="json") for r in d.reasons],
            "model_version": d.model_version or "unavailable",
            "policy_version": d.policy_version, "shadow": d.shadow}
            for a, f, d in zip(account_ids, rows, decisions, strict=True)]
        return Decided(decisions, audit)

    def log_decisions(self, decided: Sequence[Decided]) -> None:
        """Write decisions to the audit log in one transaction; raises
        :class:`DecisionsNotLogged` (nothing written) when the log refuses them."""
        try:
            with self.write_lock(), self.sessions() as session, session.begin():
                _log(session, decided)
        except Exception as exc:
            raise DecisionsNotLogged([d.account_id for x in decided for d in x.decisions]
                                     ) from exc

    def _shadow(self, rows: Sequence[Features]) -> list[dict[str, object]]:
        """The challenger's score and action for each row (logged, never acted on)."""
        out = []
        for score, features in zip(self._scores(self.challenger, rows, threads=1), rows,
                                   strict=True):
            outcome = self._outcome(score, features)
            out.append({"model_version": self.challenger.version,
                        "score": score.probability if score else None,
                        "action": str(outcome.action), "delay_days": outcome.delay_days})
        return out

    def _scores(self, model: RiskModel | None, rows: Sequence[Features], threads: int
                ) -> list[ModelScore | None]:
        if model is None:
            return [None] * len(rows)
        try:
            return model_scores(model, rows, threads)
        except Exception:  # fail closed: the policy turns None into manual review
            log.exception("model %s could not score %d rows", model.version, len(rows))
            return [None] * len(rows)

    def _outcome(self, score: ModelScore | None, features: Features) -> PolicyOutcome:
        """The policy applied to a score (``None``: the model could not score)."""
        return self.policy.decide(score.probability if score else None, features,
                                  score.contributions if score else None)

    def _decision(self, account_id: str, score: ModelScore | None, features: Features,
                  scored_at: datetime) -> Decision:
        return self._outcome(score, features).decision(
            account_id=account_id, score=score.probability if score else None,
            model_version=self.model_version, policy_version=self.policy.full_version,
            scored_at=scored_at)

