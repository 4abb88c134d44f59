"""Claiming a job's ledger rows in batches, so that several runners can share one job.

A ledger table (bonuses, message recipients) has ``job_id``, ``state``, ``attempts``,
``claimed_by`` and ``claimed_at``. A runner takes a batch of the job's ``pending`` rows
by moving them to ``sending`` under its name in one transaction; on PostgreSQL the rows
are selected ``FOR UPDATE SKIP LOCKED``, so two runners never take the same row and
never wait on each other; on SQLite the write lock serialises the claims. A row left
``sending`` by a runner that stopped is recognised by its old ``claimed_at``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from crowdgate.domain.jobs import JobRun

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
#: How often a job's owner looks whether the rows other runners are sending have settled.
WAIT_SECONDS = 0.2


def claim_batch(
    session: Session,
    table: Any,
    job_id: str,
    *,
    runner: str,
    now: datetime,
    limit: int,
    max_attempts: int | None = None,
) -> list[int]:
    """Move up to ``limit`` of the job's pending rows (sent fewer than ``max_attempts``
    times) to 'sending' for ``runner``; their ids."""
    query = select(table.id).where(table.job_id == job_id, table.state == PENDING)
    if max_attempts is not None:
        query = query.where(table.attempts < max_attempts)
    query = query.order_by(table.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(
            update(table)
            .where(table.id.in_(ids))
            .values(
                state=SENDING,
                claimed_by=runner,
                claimed_at=now,
                attempts=table.attempts + 1,
            )
        )
    return ids


def claim(run: JobRun, table: Any, *, limit: int, max_attempts: int | None = None) -> list[int]:
    """Claim the next batch of ``run``'s job for its runner in a transaction of its own,
    saving the owner's progress with it; the ids (none: nothing left to claim)."""
    with run.db.write() as session:
        ids = claim_batch(
            session,
            table,
            run.job_id,
            runner=run.runner,
            now=run.clock(),
            limit=limit,
            max_attempts=max_attempts,
        )
        if ids and not run.helping:
            run.save_progress(session)
    return ids


def release(
    session: Session,
    table: Any,
    ids: Sequence[int],
    errors: Sequence[str],
    *,
    error_column: str = "last_error",
) -> None:
    """Put rows whose send did not happen, or may be repeated safely, back to 'pending'."""
    if ids:
        session.execute(
            update(table),
            [
                {"id": row_id, "state": PENDING, "claimed_by": None, error_column: error}
                for row_id, error in zip(ids, errors, strict=True)
            ],
        )


def has_pending(session: Session, table: Any, job_id: str) -> bool:
    return bool(
        session.scalar(select(exists().where(table.job_id == job_id, table.state == PENDING)))
    )


def in_flight_elsewhere(
    session: Session, table: Any, job_id: str, *, runner: str, fresh_after: datetime
) -> int:
    """Rows another live runner is sending now (claimed after ``fresh_after``)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(table)
            .where(
                table.job_id == job_id,
                table.state == SENDING,
                table.claimed_by != runner,
                table.claimed_at >= fresh_after,
            )
        )
        or 0
    )


def wait_for_others(run: JobRun, table: Any) -> None:
    """Return once no other live runner is sending rows of ``run``'s job, so that the
    owner's tally is final (a runner that died is waited for until its rows go stale)."""
    while True:
        with run.db.read() as session:
            busy = in_flight_elsewhere(
                session, table, run.job_id, runner=run.runner, fresh_after=run.stale_before()
            )
        if not busy:
            return
        time.sleep(WAIT_SECONDS)


def abandoned(table: Any, job_id: str, *, stale_before: datetime) -> Any:
    """The condition for the job's rows left 'sending' by a runner that stopped."""
    return and_(
        table.job_id == job_id,
        table.state == SENDING,
        or_(table.claimed_at.is_(None), table.claimed_at < stale_before),
    )
