"""The message ledger, and the job that sends a message at most once to each worker.

A recipient row is written (``pending``) before anything is sent, claimed in batches
of 100 (``sending``) and settled ``sent`` or ``failed`` from the platform's answer for
each worker. A batch is sent in one call per posting its workers took part in (the
participant's ``hit_id``), since some platforms message only about one posting.
Messages have no idempotency token, so a row whose send may have happened (an answer
lost, a runner that stopped mid-call) is settled as failed with the outcome
``unclear`` and never sent again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crowdgate.domain import job_items, jobs
from crowdgate.domain.message_plans import (
    FAILED,
    HARD_FAILURE,
    NO_POSTING,
    PENDING,
    SENDING,
    SENT,
    SOFT_FAILURE,
    UNCLEAR,
    MessagePlan,
    never_sent,
)
from crowdgate.errors import CrowdgateError
from crowdgate.models import Job, Message, MessageRecipient, Participant, Study
from crowdgate.platforms import NotifyResult, PlatformClient
from crowdgate.platforms.failures import PlatformRejected, PlatformUnavailable
from crowdgate.platforms.records import NOT_SENT

KIND = "message"
#: Recipients claimed at a time (MTurk's NotifyWorkers takes at most 100 a call).
BATCH = 100
#: Calls in a row the platform may refuse outright (nothing sent) before the job stops.
ROUNDS = 5
BACKOFF_SECONDS = 0.2
#: The platform's word for a per-worker failure, in crowdgate's outcomes.
FAILURE_CODES = {"SoftFailure": SOFT_FAILURE, "HardFailure": HARD_FAILURE}


def record(
    session: Session,
    study: Study,
    plan: MessagePlan,
    job: Job,
    *,
    subject: str,
    body: str,
    now: datetime,
) -> Message:
    """Write the message (once per key) and its new recipients for ``job``; hand the job
    the recipients still pending from an earlier one or failed without a call (no
    posting), and settle as unclear those an ended job left half-sent. Returns the
    message's row."""
    message = plan.message
    if message is None:
        message = Message(
            study_id=study.id, key=plan.key, subject=subject, body=body, created_at=now
        )
        session.add(message)
        session.flush()
    new = plan.new
    for start in range(0, len(new), 500):
        session.add_all(
            [
                MessageRecipient(
                    message_id=message.id,
                    worker_id=worker,
                    state=PENDING,
                    attempts=0,
                    job_id=job.id,
                    created_at=now,
                )
                for worker in new[start : start + 500]
            ]
        )
        session.flush()
    unfinished = plan.unfinished
    for start in range(0, len(unfinished), 500):
        session.execute(
            update(MessageRecipient)
            .where(
                MessageRecipient.id.in_(unfinished[start : start + 500]),
                (MessageRecipient.state == PENDING) | never_sent(),
            )
            .values(job_id=job.id, state=PENDING, outcome=None)
        )
    ended = select(Job.id).where(Job.state.in_(jobs.FINISHED)).scalar_subquery()
    session.execute(
        update(MessageRecipient)
        .where(
            MessageRecipient.message_id == message.id,
            MessageRecipient.state == SENDING,
            MessageRecipient.job_id.is_(None) | MessageRecipient.job_id.in_(ended),
        )
        .values(
            state=FAILED,
            outcome=UNCLEAR,
            error="The job sending it stopped during the call: it may have been delivered.",
            claimed_by=None,
        )
        .execution_options(synchronize_session=False)
    )
    return message


# --- the job ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    row_id: int
    state: str
    outcome: str | None = None
    platform_code: str | None = None
    error: str | None = None


def _has_work(session: Session, job_id: str) -> bool:
    return job_items.has_pending(session, MessageRecipient, job_id)


@jobs.register(KIND, has_work=_has_work)
def run_message_job(run: jobs.JobRun) -> None:
    """Send the job's pending recipients in batches until none is left.

    A helping runner only sends; the owner also settles what stopped runners left
    half-sent, waits for the other runners' batches, and keeps the tally.
    """
    client = run.connect(str(run.params["platform"]), str(run.params["mode"]))
    run.result["message_id"] = int(run.params["message_id"])
    with run.db.read() as session:
        message = session.get(Message, run.result["message_id"])
        if message is None:
            raise CrowdgateError("The job's message is gone.", code="message_not_found")
        subject, body, study_id = message.subject, message.body, message.study_id
    if not run.helping:
        _settle_abandoned(run)
        _tally(run)
        run.save_progress()
    while True:
        _send_pending(run, client, study_id, subject, body)
        if run.helping:
            return  # the owner keeps the tally and ends the job
        _wait_for_others(run)
        with run.db.read() as session:
            # A helper that had to put a batch back leaves it for the owner to send.
            if not job_items.has_pending(session, MessageRecipient, run.job_id):
                break
    _tally(run)


def _send_pending(
    run: jobs.JobRun, client: PlatformClient, study_id: int, subject: str, body: str
) -> None:
    """Claim and send batches until none is pending, checking for a cancel before each."""
    refusals = 0
    while True:
        if run.cancel_requested():
            if run.helping:
                return  # the owner ends the job as cancelled
            _tally(run)
            raise jobs.Cancelled
        ids = job_items.claim(run, MessageRecipient, limit=BATCH)
        if not ids:
            return
        if _send_batch(run, client, study_id, ids, subject, body):
            refusals = 0
        else:
            refusals += 1
            if refusals >= ROUNDS:
                _tally(run)
                raise PlatformUnavailable(
                    f"The platform refused {ROUNDS} calls in a row; {run.counts['unsent']} "
                    "workers were not messaged. Send the same message again to reach them; "
                    "nobody gets it twice.",
                    platform=str(run.params["platform"]),
                )
            time.sleep(BACKOFF_SECONDS * 2 ** (refusals - 1))
        _tally(run)
        run.save_progress()


def _send_batch(
    run: jobs.JobRun,
    client: PlatformClient,
    study_id: int,
    ids: Sequence[int],
    subject: str,
    body: str,
) -> bool:
    """Message one claimed batch, one call per posting; False when the platform refused
    every call (nothing sent, the rows are pending again)."""
    with run.db.read() as session:
        workers = dict(
            session.execute(
                select(MessageRecipient.id, MessageRecipient.worker_id).where(
                    MessageRecipient.id.in_(list(ids))
                )
            ).all()
        )
        postings = postings_of(session, study_id, workers.values())
    groups: dict[str | None, list[int]] = {}
    for row_id in ids:
        groups.setdefault(postings.get(workers[row_id]), []).append(row_id)
    refused = 0
    queue = list(groups.items())
    for number, (posting, rows) in enumerate(queue):
        try:
            if not _send_group(run, client, posting, rows, workers, subject, body):
                refused += 1
        except CrowdgateError:
            # The job stops on this error: the later groups were not sent either.
            later = [row_id for _, group in queue[number + 1 :] for row_id in group]
            with run.db.write() as session:
                job_items.release(
                    session, MessageRecipient, later, [""] * len(later), error_column="error"
                )
            raise
    return refused < len(queue)


def postings_of(session: Session, study_id: int, workers: Iterable[str]) -> dict[str, str]:
    """The posting each worker took part in: the ``hit_id`` of their latest attempt that
    has one. Workers with none recorded are left out."""
    wanted = sorted(set(workers))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        for worker, hit_id in session.execute(
            select(Participant.worker_id, Participant.hit_id)
            .where(
                Participant.study_id == study_id,
                Participant.worker_id.in_(wanted[start : start + 500]),
                Participant.hit_id.is_not(None),
            )
            .order_by(Participant.attempt, Participant.id)
        ):
            found[worker] = str(hit_id)  # a later attempt's posting replaces an earlier one
    return found


def _send_group(
    run: jobs.JobRun,
    client: PlatformClient,
    posting: str | None,
    ids: Sequence[int],
    workers: dict[int, str],
    subject: str,
    body: str,
) -> bool:
    """Message the workers of one posting; False when the platform refused the call."""
    if posting is None and client.notify_needs_posting:
        # Nothing can be sent, and sending again cannot help until the posting is
        # known; the rest of the batch goes on.
        with run.db.write() as session:
            _close(session, run, [_no_posting(row_id) for row_id in ids])
        return True
    try:
        results = client.notify([workers[i] for i in ids], subject, body, posting_id=posting)
    except (PlatformRejected, PlatformUnavailable) as exc:
        # notify raises only when nothing can have been sent: trying again is safe.
        # (Other platform errors, such as credentials refused, end the job below.)
        error = f"{exc.platform_code or exc.code}: {exc.message}"
        with run.db.write() as session:
            job_items.release(
                session, MessageRecipient, ids, [error] * len(ids), error_column="error"
            )
        return False
    except CrowdgateError:
        _release_unsent(run, ids)
        raise
    by_worker = {result.worker_id: result for result in results}
    outcomes = [_outcome(row_id, by_worker.get(workers[row_id])) for row_id in ids]
    with run.db.write() as session:
        _close(session, run, [o for o in outcomes if o.state != PENDING])
        unsent = [o for o in outcomes if o.state == PENDING]
        job_items.release(
            session,
            MessageRecipient,
            [o.row_id for o in unsent],
            [o.error or "" for o in unsent],
            error_column="error",
        )
    return True


def _release_unsent(run: jobs.JobRun, ids: Sequence[int]) -> None:
    """Refused by the adapter's own checks before any call: nothing was sent."""
    with run.db.write() as session:
        job_items.release(session, MessageRecipient, ids, [""] * len(ids), error_column="error")


def _no_posting(row_id: int) -> Outcome:
    return Outcome(
        row_id,
        FAILED,
        HARD_FAILURE,
        NO_POSTING,
        "The study's record has no posting for this worker (the participant's hit_id, "
        "STUDY_ID on Prolific), and the platform messages only about one (its posting_id "
        "is required). Nothing was sent: record it (sync the study) and send the same "
        "message again.",
    )


def outcome_of(result: NotifyResult | None) -> tuple[str, str | None]:
    """A worker's state and outcome from the platform's result for them."""
    if result is None:
        # No word about this worker in an answer that was given: it may have gone out.
        return FAILED, UNCLEAR
    if result.ok:
        return SENT, SENT
    if result.platform_code in FAILURE_CODES:
        return FAILED, FAILURE_CODES[result.platform_code]
    if result.problem.startswith(NOT_SENT):
        return PENDING, None
    return FAILED, UNCLEAR


def _outcome(row_id: int, result: NotifyResult | None) -> Outcome:
    state, outcome = outcome_of(result)
    if result is None:
        return Outcome(row_id, state, outcome, None, "The platform's answer did not list it.")
    return Outcome(row_id, state, outcome, result.platform_code or None, result.problem or None)


def _close(session: Session, run: jobs.JobRun, outcomes: Sequence[Outcome]) -> None:
    if not outcomes:
        return
    now = run.clock()
    session.execute(
        update(MessageRecipient),
        [
            {
                "id": o.row_id,
                "state": o.state,
                "outcome": o.outcome,
                "platform_code": o.platform_code,
                "error": o.error,
                "sent_at": now if o.state == SENT else None,
            }
            for o in outcomes
        ],
    )


def _settle_abandoned(run: jobs.JobRun) -> int:
    """Rows a stopped runner left 'sending': their call may have gone out, so they are
    settled as unclear rather than sent again."""
    with run.db.write() as session:
        settled = session.execute(
            update(MessageRecipient)
            .where(
                job_items.abandoned(MessageRecipient, run.job_id, stale_before=run.stale_before())
            )
            .values(
                state=FAILED,
                outcome=UNCLEAR,
                error="The runner sending it stopped during the call: it may have been delivered.",
            )
            .execution_options(synchronize_session=False)
        )
        return int(settled.rowcount or 0)  # type: ignore[attr-defined]


def _wait_for_others(run: jobs.JobRun) -> None:
    job_items.wait_for_others(run, MessageRecipient)
    # A runner that stopped while the owner waited leaves stale rows behind.
    _settle_abandoned(run)


def _tally(run: jobs.JobRun) -> None:
    """The job's counts from its rows: every runner's batches, whoever sent them."""
    with run.db.read() as session:
        rows: list[Any] = list(
            session.execute(
                select(MessageRecipient.state, MessageRecipient.outcome, func.count())
                .where(MessageRecipient.job_id == run.job_id)
                .group_by(MessageRecipient.state, MessageRecipient.outcome)
            ).all()
        )
    counts = {name: 0 for name in (SENT, SOFT_FAILURE, HARD_FAILURE, UNCLEAR, "unsent")}
    for state, outcome, number in rows:
        if state == SENT:
            counts[SENT] += int(number)
        elif state == FAILED:
            counts[outcome if outcome in counts else UNCLEAR] += int(number)
        else:
            counts["unsent"] += int(number)
    run.total = sum(counts.values())
    run.done = counts[SENT]
    run.failed = counts[SOFT_FAILURE] + counts[HARD_FAILURE] + counts[UNCLEAR]
    run.counts.update(counts)
