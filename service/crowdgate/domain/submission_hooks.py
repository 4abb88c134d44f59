"""A platform's hook about one submission: which record it is about, and each event once.

Applying the submission is sync's own work (``sync.apply_submission``), so a hook and
a later sync can never disagree about what a status means for the record.

Handled event ids are kept only as long as a platform may repeat an event: ``purge``
forgets older ones, a bounded batch at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crowdgate.models import Participant, Study, WebhookEvent
from crowdgate.platforms.records import Submission

MAX_EVENT_ID = 200
#: Old event ids are purged at most this often per process.
PURGE_EVERY = timedelta(hours=1)
#: Rows one purge deletes at most, so that it never holds the write lock for long.
PURGE_BATCH = 1000


def purge(session: Session, *, before: datetime, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` handled events received before ``before``; returns how many."""
    # Any old rows will do, so no ORDER BY: the scan stops at the limit.
    old = select(WebhookEvent.id).where(WebhookEvent.received_at < before).limit(limit)
    result = session.execute(
        delete(WebhookEvent)
        .where(WebhookEvent.id.in_(old))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def seen(session: Session, event_id: str) -> bool:
    return (
        session.scalar(select(WebhookEvent.id).where(WebhookEvent.event_id == event_id)) is not None
    )


def claim(
    session: Session, event_id: str, event_type: str, resource_id: str, *, now: datetime
) -> bool:
    """Record the event as handled, in the caller's transaction; False if it already was.

    The caller's work on the event commits with the claim or not at all, so a failure
    leaves the event to be handled again when the platform repeats it.
    """
    if seen(session, event_id):
        return False
    try:
        # A savepoint: a concurrent delivery of the same event that committed first
        # costs only this insert, not the caller's transaction.
        with session.begin_nested():
            session.add(
                WebhookEvent(
                    event_id=event_id,
                    event_type=event_type[:100],
                    resource_id=resource_id[:128],
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def by_assignment(session: Session, platform: str, assignment_id: str) -> Participant | None:
    """The participant of a study on ``platform`` whose recorded assignment (on Prolific,
    the SESSION_ID given at start) is ``assignment_id``."""
    return session.scalars(
        select(Participant)
        .join(Study, Study.id == Participant.study_id)
        .where(Study.platform == platform, Participant.assignment_id == assignment_id)
        .order_by(Participant.id)
        .limit(1)
    ).first()


def as_recorded(participant: Participant, status: str, platform_status: str) -> Submission | None:
    """The participant's submission as the record has it, in the status a hook reports;
    None when the record does not know its posting (then ask the platform)."""
    if participant.assignment_id is None or participant.hit_id is None:
        return None
    return Submission(
        assignment_id=participant.assignment_id,
        worker_id=participant.worker_id,
        posting_id=participant.hit_id,
        status=status,
        platform_status=platform_status,
        accepted_at=participant.accepted_at,
        submitted_at=participant.submitted_at,
        reviewed_at=participant.reviewed_at,
        answers=dict(participant.answers or {}),
    )


def any_study(session: Session, platform: str) -> Study | None:
    """A study on ``platform``, whose client can read submissions of any of them."""
    return session.scalars(
        select(Study).where(Study.platform == platform).order_by(Study.id).limit(1)
    ).first()


def study_holding(session: Session, platform: str, submission: Submission) -> Study | None:
    """The study on ``platform`` whose postings include the submission's and whose
    record has its worker."""
    studies = session.scalars(select(Study).where(Study.platform == platform).order_by(Study.id))
    for study in studies:
        if submission.posting_id not in (study.hit_ids or []):
            continue
        worker = session.scalar(
            select(Participant.id)
            .where(Participant.study_id == study.id, Participant.worker_id == submission.worker_id)
            .limit(1)
        )
        if worker is not None:
            return study
    return None
