"""The bonus ledger, and the job that pays it exactly once.

A row is written (``pending``) before its bonus is sent, marked ``sending`` before the
call and ``sent`` or ``failed`` after it. Every call carries a token derived from the
row (MTurk's UniqueRequestToken), so sending a row again after a crash or an unclear
answer is the same payment, not a second one; a row found ``sending`` by a later run
is first looked for among the assignment's bonuses on the platform, because MTurk
remembers tokens for 24 hours only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crowdgate.domain import jobs
from crowdgate.domain.bonus_plans import FAILED, PENDING, SENDING, SENT, BonusPlan
from crowdgate.errors import CrowdgateError, ValidationFailed
from crowdgate.models import Bonus, Job, Study
from crowdgate.platforms import PlatformClient
from crowdgate.platforms.failures import PlatformError, PlatformRejected, PlatformUnavailable

KIND = "bonus"
DEFAULT_CONCURRENCY = 8
#: Rows marked 'sending' together, then settled together: two writes per batch.
BATCH = 200
#: Passes over rows the platform could not be reached for, before the job gives up.
ROUNDS = 5
BACKOFF_SECONDS = 0.2


def token(row_id: int) -> str:
    """The row's idempotency token: the same row, the same payment (64 chars at most)."""
    return f"crowdgate-bonus-{row_id}"


def record(session: Session, study: Study, plan: BonusPlan, job: Job, *, now: datetime) -> int:
    """Write the plan's new bonuses for ``job``, and hand it the unfinished old ones.

    An item already in the ledger stays that row: sent or failed, it is left alone;
    pending or sending (an earlier job stopped), it is finished by this job, whose
    token for it is unchanged. Returns the number of rows the job will send.
    """
    new = plan.new
    for start in range(0, len(new), 500):
        session.add_all(
            [
                Bonus(
                    study_id=study.id,
                    worker_id=a.worker_id,
                    assignment_id=a.assignment_id,
                    amount=a.amount,
                    reason=a.reason,
                    key=a.key,
                    state=PENDING,
                    attempts=0,
                    platform_response={},
                    job_id=job.id,
                    created_at=now,
                )
                for a in new[start : start + 500]
            ]
        )
        session.flush()
    unfinished = [
        a.existing_id
        for a in plan.existing
        if a.existing_id is not None and a.existing_state in (PENDING, SENDING)
    ]
    for start in range(0, len(unfinished), 500):
        session.execute(
            update(Bonus).where(Bonus.id.in_(unfinished[start : start + 500])).values(job_id=job.id)
        )
    return len(new) + len(unfinished)


def list_bonuses(
    session: Session, study: Study, *, state: str | None, after: int | None, limit: int
) -> list[Bonus]:
    query = select(Bonus).where(Bonus.study_id == study.id)
    if state is not None:
        query = query.where(Bonus.state == state)
    if after is not None:
        query = query.where(Bonus.id > after)
    return list(session.scalars(query.order_by(Bonus.id).limit(limit)))


# --- the job ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: int
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    state: str


@dataclass(frozen=True)
class Outcome:
    row_id: int
    state: str
    error: str | None = None
    response: dict[str, Any] | None = None


@jobs.register(KIND)
def run_bonus_job(run: jobs.JobRun) -> None:
    client = run.connect(str(run.params["platform"]), str(run.params["mode"]))
    concurrency = max(1, int(run.params.get("concurrency") or DEFAULT_CONCURRENCY))
    for name in ("sent", "failed", "settled_after_restart", "unsent"):
        run.counts.setdefault(name, 0)
    _settle_unclear(run, client)
    _tally(run)
    run.save_progress()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bonus") as pool:
        for round_number in range(ROUNDS):
            # 'sending' rows too: left by a stopped run and not found paid, or left by
            # the round before; their token makes sending them again safe.
            rows = _rows(run, (PENDING, SENDING))
            if not rows:
                break
            if round_number:
                time.sleep(BACKOFF_SECONDS * 2 ** (round_number - 1))
            for start in range(0, len(rows), BATCH):
                _send_batch(run, client, pool, rows[start : start + BATCH])
    _tally(run)
    if run.counts["unsent"]:
        raise PlatformUnavailable(
            f"{run.counts['unsent']} bonuses could not be confirmed: the platform did not "
            "answer. Send the same items again to finish them; none is paid twice.",
            platform=str(run.params["platform"]),
        )


def _rows(run: jobs.JobRun, states: Sequence[str]) -> list[Row]:
    with run.db.read() as session:
        return [
            Row(*values)
            for values in session.execute(
                select(
                    Bonus.id,
                    Bonus.worker_id,
                    Bonus.assignment_id,
                    Bonus.amount,
                    Bonus.reason,
                    Bonus.state,
                )
                .where(Bonus.job_id == run.job_id, Bonus.state.in_(states))
                .order_by(Bonus.id)
            )
        ]


def _settle_unclear(run: jobs.JobRun, client: PlatformClient) -> None:
    """Rows left 'sending' by a run that stopped: a payment of theirs the platform lists
    (beyond those the ledger already counts as sent) settles them as sent; the others
    are sent again, with the same token."""
    unclear = _rows(run, (SENDING,))
    if not unclear:
        return
    by_assignment: dict[str, list[Row]] = {}
    for row in unclear:
        if row.assignment_id:
            by_assignment.setdefault(row.assignment_id, []).append(row)
    settled: list[Outcome] = []
    for assignment_id, rows in by_assignment.items():
        try:
            paid = Counter(
                (b.worker_id, Decimal(b.amount), b.reason)
                for b in client.list_bonuses(assignment_id=assignment_id)
            )
        except (PlatformError, ValidationFailed):
            continue  # not knowable now: the rows are sent again, with their tokens
        with run.db.read() as session:
            for worker_id, amount, reason in session.execute(
                select(Bonus.worker_id, Bonus.amount, Bonus.reason).where(
                    Bonus.study_id == run.study_id,
                    Bonus.assignment_id == assignment_id,
                    Bonus.state == SENT,
                )
            ):
                paid[(worker_id, Decimal(amount), reason)] -= 1
        for row in rows:
            identity = (row.worker_id, Decimal(row.amount), row.reason)
            if paid[identity] > 0:
                paid[identity] -= 1
                settled.append(
                    Outcome(row.id, SENT, response={"settled": "found paid on the platform"})
                )
    if settled:
        with run.db.write() as session:
            _close(session, run, settled)
        run.count("settled_after_restart", len(settled))


def _send_batch(
    run: jobs.JobRun, client: PlatformClient, pool: ThreadPoolExecutor, rows: Sequence[Row]
) -> None:
    ids = [row.id for row in rows]
    with run.db.write() as session:
        session.execute(
            update(Bonus)
            .where(Bonus.id.in_(ids))
            .values(state=SENDING, attempts=Bonus.attempts + 1)
        )
        run.save_progress(session)
    outcomes = list(pool.map(lambda row: _send_one(client, row), rows))
    with run.db.write() as session:
        _close(session, run, [o for o in outcomes if o.state != SENDING])
        unclear = [o for o in outcomes if o.state == SENDING]
        if unclear:
            session.execute(
                update(Bonus),
                [{"id": o.row_id, "last_error": o.error} for o in unclear],
            )
        run.done += sum(1 for o in outcomes if o.state == SENT)
        run.failed += sum(1 for o in outcomes if o.state == FAILED)
        run.save_progress(session)


def _send_one(client: PlatformClient, row: Row) -> Outcome:
    sent_token = token(row.id)
    try:
        client.send_bonus(
            row.worker_id,
            row.assignment_id or None,
            Decimal(row.amount),
            row.reason,
            token=sent_token,
        )
    except PlatformRejected as exc:
        error = f"{exc.platform_code or exc.code}: {exc.message}"
        return Outcome(row.id, FAILED, error, {"token": sent_token, "error": error})
    except PlatformError as exc:
        # Unavailable, throttled past the retries, or an answer lost: it may have been
        # paid. The row stays 'sending' and is sent again with the same token.
        return Outcome(row.id, SENDING, f"{exc.platform_code or exc.code}: {exc.message}")
    except CrowdgateError as exc:
        # Refused by the adapter's own checks before any call: nothing was sent.
        error = f"{exc.code}: {exc.message}"
        return Outcome(row.id, FAILED, error, {"token": sent_token, "error": error})
    return Outcome(row.id, SENT, None, {"token": sent_token})


def _close(session: Session, run: jobs.JobRun, outcomes: Sequence[Outcome]) -> None:
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


def _tally(run: jobs.JobRun) -> None:
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
