"""A participant's path through a study: start, state, completion, and what others may see."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crowdgate.domain import group_checks, statuses
from crowdgate.domain.allocation import choose_condition
from crowdgate.domain.completion_codes import generate_code
from crowdgate.domain.exclusion_groups import COMPLETED, STARTED
from crowdgate.domain.exclusion_members import group_refusal, record_participants
from crowdgate.domain.survey_reads import AttemptView, GroupCheck, StudyView
from crowdgate.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from crowdgate.models import Participant, ParticipantEvent, Study
from crowdgate.platforms import get_platform


def check_worker_id(study: Study | StudyView, worker_id: str) -> None:
    problem = get_platform(study.platform).validate_worker_id(worker_id)
    if problem:
        raise ValidationFailed(
            f"worker_id {worker_id!r} {problem}.",
            code="invalid_worker_id",
            fields={"worker_id": [problem]},
        )


def _record(participant: Participant, status: str, now: datetime, detail: str = "") -> None:
    participant.status = status
    participant.updated_at = now
    participant.events.append(ParticipantEvent(status=status, at=now, detail=detail))


_LATEST = (
    select(Participant)
    .where(Participant.study_id == bindparam("study_id"), Participant.worker_id == bindparam("w"))
    .order_by(Participant.attempt.desc())
    .limit(1)
)
_LATEST_FOR_UPDATE = _LATEST.with_for_update()


def latest(
    session: Session, study: Study, worker_id: str, *, for_update: bool = False
) -> Participant | None:
    """The worker's most recent attempt at the study (there is more than one only with repeats)."""
    query = _LATEST_FOR_UPDATE if for_update else _LATEST
    return session.scalar(query, {"study_id": study.id, "w": worker_id})


def get_participant(
    session: Session, study: Study, worker_id: str, *, for_update: bool = False
) -> Participant:
    check_worker_id(study, worker_id)
    participant = latest(session, study, worker_id, for_update=for_update)
    if participant is None:
        raise NotFound(
            f"Worker {worker_id!r} has not started study {study.slug!r}; call start first.",
            code="participant_not_found",
        )
    return participant


def sweep_lapsed(session: Session, study: Study, now: datetime) -> int:
    """Mark started participants whose lease has run out as abandoned; their places return.

    The rows are locked (in id order, so two sweeps cannot deadlock): a completion
    committed meanwhile makes PostgreSQL re-check the row, which then no longer matches.
    """
    lapsed = list(
        session.scalars(
            select(Participant)
            .where(
                Participant.study_id == study.id,
                Participant.status == statuses.STARTED,
                Participant.lease_expires_at <= now,
            )
            .order_by(Participant.id)
            .with_for_update()
        )
    )
    for participant in lapsed:
        _lapse(participant, now)
    return len(lapsed)


def _lapse(participant: Participant, now: datetime) -> None:
    _record(participant, statuses.ABANDONED, now, "lease lapsed")


def places_taken(session: Session, study: Study, now: datetime) -> dict[str, int]:
    rows = session.execute(
        select(Participant.condition, func.count())
        .where(
            Participant.study_id == study.id,
            Participant.condition.is_not(None),
            or_(
                Participant.status.in_(statuses.FINISHED),
                and_(Participant.status == statuses.STARTED, Participant.lease_expires_at > now),
            ),
        )
        .group_by(Participant.condition)
    )
    return {condition: count for condition, count in rows if condition is not None}


def start(
    session: Session,
    study: Study,
    worker_id: str,
    *,
    now: datetime,
    assignment_id: str | None = None,
    hit_id: str | None = None,
    session_id: str | None = None,
    rng: random.Random | None = None,
    reveal_group: bool = False,
) -> tuple[Participant, bool]:
    """Start the worker or resume them; returns the participant and whether it was a resume.

    Allocation must see every other start's result, so it holds the study's lock: a
    row lock on PostgreSQL, the writer lock that every SQLite write transaction takes.
    A new participant must pass the study's groups; ``reveal_group`` names the group
    that refuses them (for admin callers).
    """
    check_worker_id(study, worker_id)
    session.execute(select(Study.id).where(Study.id == study.id).with_for_update())
    lease = now + timedelta(minutes=study.lease_minutes)
    # Locked so a completion of this worker committed meanwhile is seen, not overwritten.
    current = latest(session, study, worker_id, for_update=True)
    attempt = 1
    if current is not None:
        new_assignment = bool(
            assignment_id and current.assignment_id and assignment_id != current.assignment_id
        )
        if not new_assignment:
            _resume(current, now, lease, assignment_id, hit_id, session_id)
            return current, True
        if not study.allow_repeats:
            raise Conflict(
                f"Worker {worker_id!r} already took part in study {study.slug!r} "
                f"(assignment {current.assignment_id}).",
                code="already_participated",
                extra={"reason": "already_participated"},
            )
        attempt = current.attempt + 1

    _check_groups(session, study, worker_id, reveal_group=reveal_group)
    sweep_lapsed(session, study, now)
    condition = choose_condition(study.conditions, places_taken(session, study, now), rng)
    participant = Participant(
        study_id=study.id,
        worker_id=worker_id,
        attempt=attempt,
        assignment_id=assignment_id,
        hit_id=hit_id,
        session_id=session_id,
        condition=condition,
        state={},
        lease_expires_at=lease,
        started_at=now,
        updated_at=now,
        status=statuses.STARTED,
    )
    participant.events.append(ParticipantEvent(status=statuses.STARTED, at=now, detail=""))
    session.add(participant)
    session.flush()
    record_participants(session, study.id, study.slug, [worker_id], STARTED, now=now)
    return participant, False


def _check_groups(session: Session, study: Study, worker_id: str, *, reveal_group: bool) -> None:
    refused = group_refusal(session, study.id, worker_id)
    if refused is None:
        return
    reason, group = refused
    extra: dict[str, Any] = {"reason": reason}
    if reveal_group:
        extra["group"] = group
    why = (
        "is listed in an exclusion group"
        if reason == "excluded"
        else ("is not in a group the study requires")
    )
    raise Conflict(
        f"Worker {worker_id!r} may not take part in study {study.slug!r}: the worker {why}.",
        code=reason,
        extra=extra,
    )


def _resume(
    participant: Participant,
    now: datetime,
    lease: datetime,
    assignment_id: str | None,
    hit_id: str | None,
    session_id: str | None,
) -> None:
    participant.assignment_id = participant.assignment_id or assignment_id
    participant.hit_id = participant.hit_id or hit_id
    participant.session_id = participant.session_id or session_id
    if participant.status == statuses.ABANDONED:
        _record(participant, statuses.STARTED, now, "resumed after the lease lapsed")
    if participant.status == statuses.STARTED:
        participant.lease_expires_at = lease
        participant.updated_at = now


def _state_size(state: Mapping[str, Any]) -> int:
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode())


def write_state(
    session: Session,
    study: Study,
    worker_id: str,
    values: Mapping[str, Any],
    *,
    merge: bool,
    now: datetime,
    max_bytes: int,
) -> Participant:
    """Replace the worker's state, or merge top-level keys into it (a null value removes a key)."""
    participant = get_participant(session, study, worker_id, for_update=True)
    state = dict(participant.state) if merge else {}
    for key, value in values.items():
        if merge and value is None:
            state.pop(key, None)
        else:
            state[key] = value
    size = _state_size(state)
    if size > max_bytes:
        raise PayloadTooLarge(
            f"The state would take {size} bytes; a participant's state holds at most {max_bytes}.",
            code="state_too_large",
            fields={"state": [f"larger than {max_bytes} bytes"]},
        )
    participant.state = state
    participant.updated_at = now
    if participant.status == statuses.STARTED:
        # Writing state keeps a live lease alive; a lapsed one stays lapsed whether or not
        # a sweep has marked it yet. Only start brings an abandoned worker back.
        assert participant.lease_expires_at is not None
        if participant.lease_expires_at > now:
            participant.lease_expires_at = now + timedelta(minutes=study.lease_minutes)
        else:
            _lapse(participant, now)
    return participant


def complete(
    session: Session,
    study: Study,
    worker_id: str,
    *,
    now: datetime,
    generate: Callable[[], str] = generate_code,
) -> Participant:
    """Mark the worker complete and give them a code; a second call returns the same code."""
    participant = get_participant(session, study, worker_id, for_update=True)
    if participant.completion_code:
        return participant
    if participant.status not in statuses.ACTIVE:
        raise Conflict(
            f"Worker {worker_id!r} is {participant.status} and cannot complete.",
            code="not_completable",
        )
    for _ in range(16):
        code = generate()
        try:
            with session.begin_nested():
                participant.completion_code = code
                participant.completed_at = now
                participant.lease_expires_at = None  # a finished worker holds the place for good
                _record(participant, statuses.COMPLETED, now)
                session.flush()
            record_participants(session, study.id, study.slug, [worker_id], COMPLETED, now=now)
            return participant
        except IntegrityError:
            continue  # another participant of this study holds the code: draw again
    raise RuntimeError("could not draw an unused completion code in 16 tries")


def verify_code(
    study: StudyView, owner: AttemptView | None, worker_id: str | None, *, as_admin: bool
) -> dict[str, Any]:
    """Whether a code is a completion code of the study (and of ``worker_id``, if given).

    ``owner`` is the participant holding the code, if anyone does. A survey key learns
    only whether the code is the given worker's own: nothing about whose code it is
    otherwise.
    """
    if worker_id is not None:
        check_worker_id(study, worker_id)
    if not as_admin:
        if owner is not None and owner.worker_id == worker_id:
            return {"valid": True, "worker_id": worker_id}
        return {"valid": False, "reason": "no_match", "worker_id": worker_id}
    if owner is None:
        return {"valid": False, "reason": "unknown_code", "worker_id": worker_id}
    if worker_id is not None and owner.worker_id != worker_id:
        return {
            "valid": False,
            "reason": "other_worker",
            "worker_id": worker_id,
            "code_worker_id": owner.worker_id,
        }
    return {
        "valid": True,
        "worker_id": owner.worker_id,
        "status": owner.status,
        "condition": owner.condition,
    }


def eligibility(
    study: StudyView,
    worker_id: str,
    current: AttemptView | None,
    groups: GroupCheck,
    assignment_id: str | None,
) -> tuple[bool, str, str | None]:
    """Whether a start by this worker (on this assignment, if given) would be accepted:
    (eligible, reason, the group behind a refusal by groups).

    ``current`` is the worker's latest attempt at the study, if any. Groups judge only
    new participants: a worker holding a place may come back to it.
    """
    check_worker_id(study, worker_id)
    if current is not None:
        new_assignment = bool(
            assignment_id and current.assignment_id and assignment_id != current.assignment_id
        )
        if not new_assignment and current.status in statuses.ACTIVE:
            return True, "resume", None
        if not study.allow_repeats:
            return False, "already_participated", None
    refused = group_checks.refusal(*groups)
    if refused is not None:
        return False, refused[0], refused[1]
    return True, ("new" if current is None else "repeats_allowed"), None


def participants_query(
    study: Study, *, status: str | None, condition: str | None
) -> Select[Participant]:
    query = select(Participant).where(Participant.study_id == study.id).order_by(Participant.id)
    if status is not None:
        query = query.where(Participant.status == status)
    if condition is not None:
        query = query.where(Participant.condition == condition)
    return query


def list_participants(
    session: Session,
    study: Study,
    *,
    status: str | None,
    condition: str | None,
    after: int | None,
    limit: int,
) -> list[Participant]:
    query = participants_query(study, status=status, condition=condition).limit(limit)
    if after is not None:
        query = query.where(Participant.id > after)
    return list(session.scalars(query))


def iter_participants(
    session: Session, study: Study, *, status: str | None, condition: str | None, batch: int = 1000
) -> Iterator[Participant]:
    """Every matching participant, read in batches so an export never holds a study in memory."""
    after = None
    while True:
        page = list_participants(
            session, study, status=status, condition=condition, after=after, limit=batch
        )
        yield from page
        if len(page) < batch:
            return
        after = page[-1].id
        session.expunge_all()
