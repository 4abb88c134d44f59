"""A bonus job's ledger rows as its runners read, claim and settle them, whichever way
the platform pays (one call per bonus, or batches)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crowdgate.domain import job_items, jobs
from crowdgate.domain.bonus_plans import FAILED, PENDING, SENDING, SENT
from crowdgate.models import Bonus

#: Rows claimed together, then settled together: two writes per batch.
BATCH = 200
#: Sends of one row within one job before the job gives up on it and ends failed,
#: leaving it for a later job.
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True)
class Row:
    id: int
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    row_id: int
    state: str
    error: str | None = None
    response: dict[str, Any] | None = None


COLUMNS = (
    Bonus.id,
    Bonus.worker_id,
    Bonus.assignment_id,
    Bonus.amount,
    Bonus.reason,
    Bonus.attempts,
)


def next_batch(run: jobs.JobRun) -> list[Row] | None:
    """The next batch of rows claimed for this runner: [] when none is left, None when
    the job was asked to stop (before anything more is claimed)."""
    if run.cancel_requested():
        return None
    ids = job_items.claim(run, Bonus, limit=BATCH, max_attempts=MAX_ATTEMPTS)
    return rows(run, ids) if ids else []


@dataclass
class Backoff:
    """Pauses between batches while the platform answers few of a batch's calls; not
    for the odd lost answer, whose rows are retried in a later batch anyway."""

    troubled: int = 0

    def after(self, unanswered: int, of: int) -> None:
        if unanswered * 2 >= of:
            self.troubled += 1
            time.sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (self.troubled - 1)))
        else:
            self.troubled = 0


def rows(run: jobs.JobRun, ids: Sequence[int]) -> list[Row]:
    with run.db.read() as session:
        return [
            Row(*values)
            for values in session.execute(
                select(*COLUMNS).where(Bonus.id.in_(ids)).order_by(Bonus.id)
            )
        ]


def close(session: Session, run: jobs.JobRun, outcomes: Sequence[Outcome]) -> None:
    """Write rows' final states (sent or failed)."""
    now = run.clock()
    if not outcomes:
        return
    session.execute(
        update(Bonus),
        [
            {
                "id": o.row_id,
                "state": o.state,
                "last_error": o.error,
                "platform_response": o.response or {},
                "sent_at": now if o.state == SENT else None,
            }
            for o in outcomes
        ],
    )


def paid_elsewhere(session: Session, study_id: int | None, assignment_id: str) -> list[Any]:
    """(worker, amount, reason) of the ledger's sent bonuses on one assignment: payments
    the platform lists for it that are already accounted for."""
    return list(
        session.execute(
            select(Bonus.worker_id, Bonus.amount, Bonus.reason).where(
                Bonus.study_id == study_id,
                Bonus.assignment_id == assignment_id,
                Bonus.state == SENT,
            )
        ).all()
    )


def tally(run: jobs.JobRun) -> None:
    with run.db.read() as session:
        counts = dict(
            session.execute(
                select(Bonus.state, func.count())
                .where(Bonus.job_id == run.job_id)
                .group_by(Bonus.state)
            ).all()
        )
    run.total = sum(counts.values())
    run.done = counts.get(SENT, 0)
    run.failed = counts.get(FAILED, 0)
    run.counts["sent"] = run.done
    run.counts["failed"] = run.failed
    run.counts["unsent"] = counts.get(PENDING, 0) + counts.get(SENDING, 0)
