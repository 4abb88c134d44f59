"""Who a message would reach, each worker checked before anything is sent.

A message is one row per study and key (by default a digest of its subject and body),
and its recipients are unique per worker: asking to send the same message again
reaches only the workers it has not reached. A worker named explicitly but unfit is
refused with a reason code rather than dropped, so the plan (a dry run) shows every
worker's fate and a send with any refusal sends nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdgate.domain import jobs
from crowdgate.errors import Conflict
from crowdgate.models import Job, Message, MessageRecipient, Participant, Study
from crowdgate.platforms import Platform

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
#: A recipient's outcome: delivered, refused by the platform (for now or for good),
#: or not knowable (the call may have delivered it; it is never sent again).
SOFT_FAILURE, HARD_FAILURE, UNCLEAR = "soft_failure", "hard_failure", "unclear"
OUTCOMES = (SENT, SOFT_FAILURE, HARD_FAILURE, UNCLEAR)
#: The code of a recipient failed because the record holds no posting (hit_id) for
#: them that the platform's messages need: nothing was sent, so a resend tries again.
NO_POSTING = "no_posting"
#: A dry run lists at most this many recipients' ids (the count is always exact).
RECIPIENTS_SHOWN = 1000

#: Why an explicitly named worker is refused, in words for the API's documentation.
REASONS = {
    "invalid_worker_id": "the id is not a worker id of the study's platform",
    "duplicate_in_request": "the same worker appears earlier in the request",
    "not_a_participant": "the worker is not a participant of the study",
}


@dataclass(frozen=True)
class Selection:
    """Whom to message: explicit ``worker_ids``, or participants by status and condition."""

    worker_ids: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    condition: str | None = None


@dataclass(frozen=True)
class Refused:
    index: int
    worker_id: str
    code: str

    def body(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "worker_id": self.worker_id,
            "code": self.code,
            "detail": REASONS[self.code],
        }


@dataclass
class MessagePlan:
    key: str
    #: The message's row when it was sent before (same study and key).
    message: Message | None = None
    #: Workers the message has no recipient row for yet.
    new: list[str] = field(default_factory=list)
    #: Recipient rows still pending, or failed before any call (no posting): a new job
    #: sends them.
    unfinished: list[int] = field(default_factory=list)
    unfinished_workers: list[str] = field(default_factory=list)
    #: Rows another running job is sending right now: left to it.
    in_progress: int = 0
    already_sent: int = 0
    already_failed: int = 0
    refused: list[Refused] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many workers a send would message now."""
        return len(self.new) + len(self.unfinished)


def message_key(subject: str, body: str) -> str:
    """The key of a message that names none: the same words are the same message."""
    return hashlib.sha256(f"{subject}\0{body}".encode()).hexdigest()


def find_message(session: Session, study: Study, key: str) -> Message | None:
    return session.scalar(select(Message).where(Message.study_id == study.id, Message.key == key))


def check_same_words(message: Message | None, subject: str, body: str) -> None:
    """A key names one message: other words under the same key are refused."""
    if message is not None and (message.subject != subject or message.body != body):
        raise Conflict(
            f"A message with key {message.key!r} was sent already with another subject "
            "or body. Give another key to send different words.",
            code="message_key_conflict",
            fields={"key": ["names a message with other words"]},
        )


def _participants(session: Session, study: Study, selection: Selection) -> list[str]:
    """The study's workers matching the status and condition filters, in order of arrival."""
    query = select(Participant.worker_id).where(Participant.study_id == study.id)
    if selection.statuses:
        query = query.where(Participant.status.in_(list(selection.statuses)))
    if selection.condition is not None:
        query = query.where(Participant.condition == selection.condition)
    return list(dict.fromkeys(session.scalars(query.order_by(Participant.id))))


def _known(session: Session, study: Study, workers: Iterable[str]) -> set[str]:
    wanted = sorted(set(workers))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(
            session.scalars(
                select(Participant.worker_id).where(
                    Participant.study_id == study.id,
                    Participant.worker_id.in_(wanted[start : start + 500]),
                )
            )
        )
    return found


def _explicit(
    session: Session, study: Study, platform: Platform, worker_ids: Sequence[str]
) -> tuple[list[str], list[Refused]]:
    known = _known(session, study, worker_ids)
    chosen: list[str] = []
    refused: list[Refused] = []
    seen: set[str] = set()
    for index, worker in enumerate(worker_ids):
        if platform.validate_worker_id(worker) is not None:
            refused.append(Refused(index, worker, "invalid_worker_id"))
        elif worker in seen:
            refused.append(Refused(index, worker, "duplicate_in_request"))
        elif worker not in known:
            refused.append(Refused(index, worker, "not_a_participant"))
        else:
            chosen.append(worker)
        seen.add(worker)
    return chosen, refused


def build_plan(
    session: Session,
    study: Study,
    platform: Platform,
    selection: Selection,
    *,
    subject: str,
    body: str,
    key: str | None,
) -> MessagePlan:
    """Who a send would message now, who it reached already, and who is refused."""
    plan = MessagePlan(key=key or message_key(subject, body))
    plan.message = find_message(session, study, plan.key)
    check_same_words(plan.message, subject, body)
    if selection.worker_ids is not None:
        workers, plan.refused = _explicit(session, study, platform, selection.worker_ids)
    else:
        workers = _participants(session, study, selection)
    existing = _recipients(session, plan.message, workers)
    for worker in workers:
        row = existing.get(worker)
        if row is None:
            plan.new.append(worker)
            continue
        row_id, row_state, row_code, job_state = row
        if row_state == SENT:
            plan.already_sent += 1
        elif row_state == FAILED and row_code == NO_POSTING:
            plan.unfinished.append(row_id)
            plan.unfinished_workers.append(worker)
        elif row_state == FAILED or (row_state == SENDING and job_state != jobs.RUNNING):
            # A send left half-way by a job that has ended may have been delivered:
            # it is settled as unclear when recorded, never sent again.
            plan.already_failed += 1
        elif row_state == SENDING:
            plan.in_progress += 1
        else:
            plan.unfinished.append(row_id)
            plan.unfinished_workers.append(worker)
    return plan


def never_sent() -> Any:
    """The condition for recipient rows that failed before any call was made for them."""
    return (MessageRecipient.state == FAILED) & (MessageRecipient.platform_code == NO_POSTING)


def _recipients(
    session: Session, message: Message | None, workers: Sequence[str]
) -> dict[str, tuple[int, str, str | None, str | None]]:
    """The message's rows for ``workers``: id, state, platform code and their job's state."""
    if message is None:
        return {}
    rows: dict[str, tuple[int, str, str | None, str | None]] = {}
    wanted = sorted(set(workers))
    for start in range(0, len(wanted), 500):
        for worker, row_id, row_state, row_code, job_state in session.execute(
            select(
                MessageRecipient.worker_id,
                MessageRecipient.id,
                MessageRecipient.state,
                MessageRecipient.platform_code,
                Job.state,
            )
            .outerjoin(Job, Job.id == MessageRecipient.job_id)
            .where(
                MessageRecipient.message_id == message.id,
                MessageRecipient.worker_id.in_(wanted[start : start + 500]),
            )
        ):
            rows[worker] = (row_id, row_state, row_code, job_state)
    return rows


def plan_body(plan: MessagePlan) -> dict[str, Any]:
    """The dry run's answer: how many a send would reach now, and every refusal."""
    recipients = plan.unfinished_workers + plan.new
    return {
        "key": plan.key,
        "message_id": plan.message.id if plan.message is not None else None,
        "count": plan.count,
        "recipients": recipients[:RECIPIENTS_SHOWN],
        "recipients_truncated": len(recipients) > RECIPIENTS_SHOWN,
        "already_sent": plan.already_sent,
        "already_failed": plan.already_failed,
        "in_progress": plan.in_progress,
        "refused": [r.body() for r in plan.refused],
    }
