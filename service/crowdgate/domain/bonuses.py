"""The bonus ledger, and the job that pays it exactly once.

A row is written (``pending``) before its bonus is sent, claimed (``sending``, under the
runner's name) before the call and marked ``sent`` or ``failed`` after it. Every call
carries a token derived from the row (MTurk's UniqueRequestToken), so sending a row
again after a crash or an unclear answer is the same payment, not a second one. A row
left ``sending`` by a runner that stopped is first looked for among the assignment's
bonuses on the platform, because MTurk remembers tokens for 24 hours only.

Rows are claimed in batches (domain/job_items.py), so idle runners can join a running
bonus job and each row is sent by one runner only. Platforms that pay in batches with a
pay that is not idempotent (Prolific) are paid by domain/bonus_batches.py instead.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from crowdgate.domain import bonus_batches, job_items, jobs
from crowdgate.domain.bonus_plans import FAILED, PENDING, SENDING, SENT, BonusPlan
from crowdgate.domain.bonus_rows import (
    COLUMNS,
    MAX_ATTEMPTS,
    Backoff,
    Outcome,
    Row,
    close,
    next_batch,
    paid_elsewhere,
    tally,
)
from crowdgate.errors import CrowdgateError, ValidationFailed
from crowdgate.models import Bonus, Job, Study
from crowdgate.platforms import PlatformClient
from crowdgate.platforms.failures import PlatformError, PlatformRejected, PlatformUnavailable

KIND = "bonus"
DEFAULT_CONCURRENCY = 16


def token(row_id: int) -> str:
    """The row's idempotency token: the same row, the same payment (64 chars at most)."""
    return f"crowdgate-bonus-{row_id}"


def record(session: Session, study: Study, plan: BonusPlan, job: Job, *, now: datetime) -> int:
    """Write the plan's new bonuses for ``job``, and hand it the unfinished old ones.

    An item already in the ledger stays that row: sent or failed, it is left alone;
    pending or sending after an earlier job ended, it is finished by this job, whose
    token for it is unchanged; one that a queued or running job holds stays with that
    job. Returns the number of rows this job will send.
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
    moved = 0
    held = exists().where(Job.id == Bonus.job_id, Job.state.in_((jobs.QUEUED, jobs.RUNNING)))
    for start in range(0, len(unfinished), 500):
        result = session.execute(
            update(Bonus)
            .where(
                Bonus.id.in_(unfinished[start : start + 500]), or_(Bonus.job_id.is_(None), ~held)
            )
            .values(job_id=job.id, attempts=0)
            .execution_options(synchronize_session=False)
        )
        moved += result.rowcount  # type: ignore[attr-defined]
    return len(new) + moved


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


def _has_work(session: Session, job_id: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Bonus.job_id == job_id,
                    Bonus.state == PENDING,
                    Bonus.attempts < MAX_ATTEMPTS,
                )
            )
        )
    )


def _claimable_left(run: jobs.JobRun) -> bool:
    with run.db.read() as session:
        return _has_work(session, run.job_id)


@jobs.register(KIND, has_work=_has_work)
def run_bonus_job(run: jobs.JobRun) -> None:
    client = run.connect(str(run.params["platform"]), str(run.params["mode"]))
    concurrency = max(1, int(run.params.get("concurrency") or DEFAULT_CONCURRENCY))
    in_batches = client.bonus_payment == "batch"
    settle = bonus_batches.settle if in_batches else _settle_abandoned
    send = bonus_batches.send_claimed if in_batches else _send_claimed
    unsettled = bonus_batches.unsettled if in_batches else _abandoned_rows
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bonus") as pool:
        if run.helping:
            send(run, client, pool)
            return
        for name in ("sent", "failed", "settled_after_restart", "unsent"):
            run.counts.setdefault(name, 0)
        while True:
            settle(run, client)
            tally(run)
            run.save_progress()
            cancelled = send(run, client, pool)
            job_items.wait_for_others(run, Bonus)
            # Another runner may have put rows back (to retry them) and stopped.
            if cancelled or not (unsettled(run) or _claimable_left(run)):
                break
            if in_batches:
                bonus_batches.await_payments(run, client)
    tally(run)
    if cancelled:
        raise jobs.Cancelled
    if run.counts["unsent"]:
        raise PlatformUnavailable(
            f"{run.counts['unsent']} bonuses could not be confirmed: the platform did not "
            "answer. Send the same items again to finish them; none is paid twice.",
            platform=str(run.params["platform"]),
        )


def _send_claimed(run: jobs.JobRun, client: PlatformClient, pool: ThreadPoolExecutor) -> bool:
    """Claim and send batches until none is left; True if the job was cancelled."""
    backoff = Backoff()
    while True:
        claimed = next_batch(run)
        if not claimed:
            return claimed is None
        outcomes = list(pool.map(lambda row: _send_one(client, row), claimed))
        unclear = [o for o in outcomes if o.state == SENDING]
        attempts = {row.id: row.attempts for row in claimed}
        retry = [o for o in unclear if attempts[o.row_id] < MAX_ATTEMPTS]
        given_up = [o for o in unclear if attempts[o.row_id] >= MAX_ATTEMPTS]
        with run.db.write() as session:
            close(session, run, [o for o in outcomes if o.state != SENDING])
            # Sent again in this job with the same token: the platform takes it as the
            # same payment if the first one went through.
            job_items.release(
                session, Bonus, [o.row_id for o in retry], [o.error or "" for o in retry]
            )
            # Left 'sending', unclaimed: a later job looks for them among the
            # platform's payments before sending them again (tokens expire).
            if given_up:
                session.execute(
                    update(Bonus),
                    [
                        {
                            "id": o.row_id,
                            "claimed_by": None,
                            "claimed_at": None,
                            "last_error": o.error,
                        }
                        for o in given_up
                    ],
                )
        if not run.helping:
            tally(run)
            run.save_progress()
        backoff.after(len(unclear), len(claimed))


def _abandoned_rows(run: jobs.JobRun) -> list[Row]:
    with run.db.read() as session:
        return [
            Row(*values)
            for values in session.execute(
                select(*COLUMNS)
                .where(
                    job_items.abandoned(Bonus, run.job_id, stale_before=run.stale_before()),
                    # given up on in this job (a later job resets attempts)
                    Bonus.attempts < MAX_ATTEMPTS,
                )
                .order_by(Bonus.id)
            )
        ]


def _settle_abandoned(run: jobs.JobRun, client: PlatformClient) -> None:
    """Rows left 'sending' by a runner that stopped: a payment of theirs the platform
    lists (beyond those the ledger already counts as sent) settles them as sent; the
    others go back to pending, to be sent again with the same token."""
    unclear = _abandoned_rows(run)
    if not unclear:
        return
    by_assignment: dict[str, list[Row]] = {}
    for row in unclear:
        if row.assignment_id:
            by_assignment.setdefault(row.assignment_id, []).append(row)
    settled: list[Outcome] = []
    for assignment_id, group in by_assignment.items():
        try:
            paid = Counter(
                (b.worker_id, Decimal(b.amount), b.reason)
                for b in client.list_bonuses(assignment_id=assignment_id)
            )
        except (PlatformError, ValidationFailed):
            continue  # not knowable now: the rows are sent again, with their tokens
        with run.db.read() as session:
            for worker_id, amount, reason in paid_elsewhere(session, run.study_id, assignment_id):
                paid[(worker_id, Decimal(amount), reason)] -= 1
        for row in group:
            identity = (row.worker_id, Decimal(row.amount), row.reason)
            if paid[identity] > 0:
                paid[identity] -= 1
                settled.append(
                    Outcome(row.id, SENT, response={"settled": "found paid on the platform"})
                )
    settled_ids = {o.row_id for o in settled}
    resend = [row.id for row in unclear if row.id not in settled_ids]
    with run.db.write() as session:
        close(session, run, settled)
        job_items.release(
            session, Bonus, resend, ["not found among the platform's payments"] * len(resend)
        )
    run.count("settled_after_restart", len(settled))


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
        # paid. The row is sent again with the same token.
        return Outcome(row.id, SENDING, f"{exc.platform_code or exc.code}: {exc.message}")
    except CrowdgateError as exc:
        # Refused by the adapter's own checks before any call: nothing was sent.
        error = f"{exc.code}: {exc.message}"
        return Outcome(row.id, FAILED, error, {"token": sent_token, "error": error})
    return Outcome(row.id, SENT, None, {"token": sent_token})
