"""Running queued jobs outside the request that queued them.

A runner claims the oldest runnable job: a queued one, or a running one whose heartbeat
is older than the stale limit (its runner died). On PostgreSQL the candidate row is
selected ``FOR UPDATE SKIP LOCKED``, so runners in several processes and service
instances each take a different job without waiting on one another; on SQLite every
write transaction takes the database's write lock, which serialises claims. The claimed
job then runs through ``jobs.run_claimed``, the same code a request uses inline.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from crowdgate.clock import Clock
from crowdgate.db import Database, is_postgresql
from crowdgate.domain import job_kinds, jobs
from crowdgate.models import Job

log = logging.getLogger(__name__)

#: The registered kinds, imported for their effect; named so the import is not unused.
KINDS = job_kinds.KINDS


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_next(
    db: Database, *, now: datetime, stale_before: datetime, runner_name: str
) -> str | None:
    """Claim the oldest queued or abandoned job for ``runner_name``; None if there is none."""
    runnable = or_(
        Job.state == jobs.QUEUED,
        and_(
            Job.state == jobs.RUNNING,
            or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before),
        ),
    )
    query = select(Job.id, Job.state).where(runnable).order_by(Job.created_at, Job.id).limit(1)
    # An idle runner looks first in a read, which takes no lock (SQLite's write lock
    # is the whole database's), and claims only when there is something to claim.
    with db.read() as session:
        if session.execute(query).first() is None:
            return None
    if is_postgresql(db.engine):
        query = query.with_for_update(skip_locked=True)
    with db.write() as session:
        row = session.execute(query).first()
        if row is None:
            return None
        job_id, state = row
        # The row is locked (PostgreSQL) or the database is (SQLite): this cannot lose.
        if not jobs.take(session, job_id, now=now, runner_name=runner_name, state=state):
            return None
        return str(job_id)


def joinable(db: Database, *, runner_name: str) -> str | None:
    """A running job of a shared kind, owned by another runner, with items left to claim."""
    shared = jobs.shared_kinds()
    if not shared:
        return None
    with db.read() as session:
        running = session.execute(
            select(Job.id, Job.kind)
            .where(
                Job.state == jobs.RUNNING,
                Job.kind.in_(list(shared)),
                Job.claimed_by != runner_name,
                Job.cancel_requested_at.is_(None),
            )
            .order_by(Job.created_at, Job.id)
        ).all()
        for job_id, kind in running:
            if shared[kind](session, job_id):
                return str(job_id)
    return None


class JobRunner:
    """Claims jobs one at a time and runs them; one per thread."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        connect: jobs.Connect,
        name: str | None = None,
        *,
        stale_seconds: int = 300,
    ) -> None:
        self.db = db
        self.clock = clock
        self.connect = connect
        self.name = name or default_name()
        self.stale_seconds = stale_seconds

    def run_once(self) -> str | None:
        """Claim and run one job; its id, or None when nothing was runnable."""
        now = self.clock()
        job_id = claim_next(
            self.db,
            now=now,
            stale_before=now - timedelta(seconds=self.stale_seconds),
            runner_name=self.name,
        )
        if job_id is not None:
            log.info("job %s started", job_id)
            state = jobs.run_claimed(
                self.db,
                job_id,
                clock=self.clock,
                connect=self.connect,
                runner_name=self.name,
                stale_seconds=self.stale_seconds,
            )
            log.info("job %s %s", job_id, state)
            return job_id
        job_id = joinable(self.db, runner_name=self.name)
        if job_id is None:
            return None
        log.info("helping with job %s", job_id)
        jobs.run_claimed(
            self.db,
            job_id,
            clock=self.clock,
            connect=self.connect,
            runner_name=self.name,
            stale_seconds=self.stale_seconds,
            helping=True,
        )
        return job_id

    def run_all(self, stop: threading.Event) -> int:
        """Run jobs until none is runnable (or ``stop`` is set); how many ran."""
        ran = 0
        while not stop.is_set() and self.run_once() is not None:
            ran += 1
        return ran

    def run_forever(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Run jobs until ``stop`` is set, waiting ``poll_seconds`` whenever none is runnable.

        ``stop`` is checked between jobs: a job that has started runs to its end.
        """
        while not stop.is_set():
            try:
                self.run_all(stop)
            except Exception as exc:  # the database away for a moment must not end the loop
                log.error("job runner %s: %s", self.name, _first_line(exc))
            stop.wait(poll_seconds)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
