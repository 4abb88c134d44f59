"""Bulk jobs: a row per operation, claimed and run by whoever runs jobs.

A request creates a ``queued`` row with everything needed to run it (``params``) and
commits it. Then either the request runs it (``run_job``: claim that one row by a
conditional UPDATE, so that two runners never both win) or a job runner claims the next
runnable row (domain/job_runner.py); both then go through ``run_claimed``, which runs
the kind's function and records the outcome.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crowdgate.clock import Clock
from crowdgate.db import Database
from crowdgate.domain.study_accounts import StudyAccount, account_of
from crowdgate.errors import CrowdgateError, NotFound
from crowdgate.models import Job, Study
from crowdgate.platforms import PlatformClient
from crowdgate.platforms.failures import PlatformError

log = logging.getLogger(__name__)

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

#: A ledger item's states: pending -> sending (the call may have happened) -> done,
#: failed (the platform refused it) or skipped (found done already).
PENDING, SENDING, DONE, ITEM_FAILED, SKIPPED = "pending", "sending", "done", "failed", "skipped"


class Connect(Protocol):
    """The client for a (platform, mode), under a study's own account when it has one;
    the API passes its cached clients."""

    def __call__(
        self, platform: str, mode: str, account: StudyAccount | None = None
    ) -> PlatformClient: ...


def _under(connect: Connect, study_account: StudyAccount | None) -> Connect:
    """``connect`` bound to the job's study's account, so job kinds need not know it."""
    if study_account is None:
        return connect

    def bound(platform: str, mode: str, account: StudyAccount | None = None) -> PlatformClient:
        return connect(platform, mode, account or study_account)

    return bound


@dataclass
class JobRun:
    """What a kind's function gets: the job's row values, the database and the platform."""

    job_id: str
    kind: str
    study_id: int | None
    params: Mapping[str, Any]
    db: Database
    clock: Clock
    connect: Connect
    #: Who runs it: the name ledger rows are claimed under.
    runner: str = "request"
    #: True for a runner that joined a job another runner owns: it sends what it can
    #: claim and leaves the job's tally and final state to the owner.
    helping: bool = False
    stale_seconds: int = 300
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    done: int = 0
    failed: int = 0
    result: dict[str, Any] = field(default_factory=dict)

    def stale_before(self) -> datetime:
        """Rows claimed before this were claimed by a runner that has stopped."""
        return self.clock() - timedelta(seconds=self.stale_seconds)

    def cancel_requested(self) -> bool:
        with self.db.read() as session:
            return (
                session.scalar(select(Job.cancel_requested_at).where(Job.id == self.job_id))
                is not None
            )

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by

    def save_progress(self, session: Session | None = None) -> None:
        """Write the counts so far, in ``session`` or a short transaction of its own."""
        if session is None:
            with self.db.write() as own:
                self._write(own)
        else:
            self._write(session)

    def _write(self, session: Session) -> None:
        session.execute(
            update(Job)
            .where(Job.id == self.job_id)
            .values(
                total=self.total,
                done=self.done,
                failed=self.failed,
                counts=dict(self.counts),
                result=dict(self.result),
                heartbeat_at=self.clock(),
            )
        )


class Cancelled(Exception):
    """Raised by a kind's function that stopped because the job was cancelled."""


Runner = Callable[[JobRun], None]
#: Whether a job of a shared kind has items left for a helping runner to claim.
HasWork = Callable[[Session, str], bool]
_RUNNERS: dict[str, Runner] = {}
_SHARED: dict[str, HasWork] = {}


def register(kind: str, *, has_work: HasWork | None = None) -> Callable[[Runner], Runner]:
    """Make ``function`` the one that runs jobs of ``kind``.

    With ``has_work``, idle runners may join a running job of this kind (the function
    is then called with ``run.helping``) while ``has_work`` says it has items left.
    """

    def decorate(function: Runner) -> Runner:
        _RUNNERS[kind] = function
        if has_work is not None:
            _SHARED[kind] = has_work
        return function

    return decorate


def shared_kinds() -> dict[str, HasWork]:
    return dict(_SHARED)


def new_job_id() -> str:
    return secrets.token_hex(12)


def create_job(
    session: Session,
    kind: str,
    *,
    study: Study | None,
    params: Mapping[str, Any],
    now: datetime,
) -> Job:
    """A queued job; it runs once the caller's transaction has committed."""
    if kind not in _RUNNERS:
        raise ValueError(f"no runner for jobs of kind {kind!r}")
    job = Job(
        id=new_job_id(),
        kind=kind,
        study_id=study.id if study is not None else None,
        state=QUEUED,
        params=dict(params),
        total=0,
        done=0,
        failed=0,
        counts={},
        result={},
        attempts=0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id) if _looks_like_job_id(job_id) else None
    if job is None:
        raise NotFound(f"No job has the id {job_id!r}.", code="job_not_found")
    return job


def _looks_like_job_id(job_id: str) -> bool:
    return 0 < len(job_id) <= 32 and job_id.isascii() and job_id.isalnum()


def claim(db: Database, job_id: str, *, now: datetime, runner_name: str) -> bool:
    """Move the job from queued to running for this runner; False if someone else has it."""
    with db.write() as session:
        return take(session, job_id, now=now, runner_name=runner_name, state=QUEUED)


def take(session: Session, job_id: str, *, now: datetime, runner_name: str, state: str) -> bool:
    """Mark the job running for ``runner_name`` if it is still in ``state``."""
    claimed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == state)
        .values(
            state=RUNNING,
            started_at=now,
            heartbeat_at=now,
            claimed_by=runner_name,
            attempts=Job.attempts + 1,
        )
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


def run_job(
    db: Database, job_id: str, *, clock: Clock, connect: Connect, runner_name: str = "request"
) -> str:
    """Claim and run one queued job; returns its final state (or, if another runner
    has it, its state now)."""
    if not claim(db, job_id, now=clock(), runner_name=runner_name):
        with db.read() as session:
            return get_job(session, job_id).state
    return run_claimed(db, job_id, clock=clock, connect=connect, runner_name=runner_name)


def run_claimed(
    db: Database,
    job_id: str,
    *,
    clock: Clock,
    connect: Connect,
    runner_name: str = "request",
    stale_seconds: int = 300,
    helping: bool = False,
) -> str:
    """Run a job this runner has claimed; returns its final state.

    Failures are recorded on the row, not raised: the caller (a request, a worker)
    reports the job, whose ``error`` says what went wrong and counts say what was done.
    """
    with db.read() as session:
        job = get_job(session, job_id)
        study = session.get(Study, job.study_id) if job.study_id is not None else None
        run = JobRun(
            job_id=job.id,
            kind=job.kind,
            study_id=job.study_id,
            params=dict(job.params),
            db=db,
            clock=clock,
            connect=_under(connect, account_of(study) if study is not None else None),
            runner=runner_name,
            helping=helping,
            stale_seconds=stale_seconds,
        )
    state, error, error_code = SUCCEEDED, None, None
    try:
        runner = _RUNNERS.get(run.kind)
        if runner is None:
            raise CrowdgateError(
                f"This crowdgate cannot run jobs of kind {run.kind!r}.", code="unknown_job_kind"
            )
        runner(run)
    except Cancelled:
        state = CANCELLED
    except PlatformError as exc:
        state, error = FAILED, _platform_message(exc)
        error_code = exc.platform_code or exc.code
    except CrowdgateError as exc:
        state, error, error_code = FAILED, exc.message, exc.code
    except Exception:
        log.exception("job %s (%s) failed", run.job_id, run.kind)
        state, error, error_code = FAILED, "The job failed on an internal error.", "internal_error"
    finish(db, run, state=state, error=error, error_code=error_code)
    return state


def _platform_message(exc: PlatformError) -> str:
    code = f" ({exc.platform_code})" if exc.platform_code else ""
    return f"{exc.platform}{code}: {exc.message}"


def finish(
    db: Database, run: JobRun, *, state: str, error: str | None, error_code: str | None
) -> None:
    with db.write() as session:
        run.save_progress(session)
        # A runner that outlived the stale limit finds the job taken over: the new
        # holder's outcome stands.
        session.execute(
            update(Job)
            .where(Job.id == run.job_id, Job.claimed_by == run.runner)
            .values(state=state, error=error, error_code=error_code, finished_at=run.clock())
        )


def cancel(session: Session, job: Job, *, now: datetime) -> bool:
    """Cancel a job: a queued one at once; a running one is asked to stop before its
    next batch (items not yet sent stay unsent). False once it has finished."""
    cancelled = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.state == QUEUED)
        .values(state=CANCELLED, finished_at=now, cancel_requested_at=now)
    )
    if cancelled.rowcount:  # type: ignore[attr-defined]
        return True
    asked = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.state == RUNNING, Job.cancel_requested_at.is_(None))
        .values(cancel_requested_at=now)
    )
    if asked.rowcount:  # type: ignore[attr-defined]
        return True
    return job.state == RUNNING  # asked before: the request stands


def pace(job: Job, *, now: datetime) -> dict[str, Any]:
    """How fast a running job goes and when it should end, from its counts so far."""
    finished = job.done + job.failed
    rate = eta = None
    if job.state == RUNNING and job.started_at is not None and finished > 0:
        elapsed = (now - job.started_at).total_seconds()
        if elapsed > 0:
            rate = round(finished / elapsed, 3)
            eta = round(max(0, job.total - finished) / rate, 1) if rate > 0 else None
    return {
        "cancel_requested": job.cancel_requested_at is not None,
        "rate_per_second": rate,
        "eta_seconds": eta,
    }


def study_slug(session: Session, job: Job) -> str | None:
    if job.study_id is None:
        return None
    return session.scalar(select(Study.slug).where(Study.id == job.study_id))
