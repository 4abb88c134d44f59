"""Review of a synced study: the plan from the record, and applying it as a job.

Applying is safe to repeat. Every approval or rejection is first written to the job's
item ledger as ``sending`` and committed; only then is the platform called. An item
left ``sending`` (the answer was lost, the process died) is never simply called again:
the submission's state on the platform is read first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crowdgate.domain import jobs, statuses
from crowdgate.domain.completion_codes import normalise_code
from crowdgate.domain.review_plans import (
    APPROVE,
    FLAG,
    REJECT,
    PlanItem,
    flag_codes_used_twice,
)
from crowdgate.errors import Conflict
from crowdgate.models import JobItem, Participant, ParticipantEvent, Study
from crowdgate.platforms import PlatformClient, records
from crowdgate.platforms.failures import PlatformError, PlatformRejected, PlatformUnavailable

KIND = "review"
#: Statuses of a participant whose completion crowdgate recorded.
RECORDED_COMPLETION = (
    statuses.COMPLETED,
    statuses.SUBMITTED,
    statuses.APPROVED,
    statuses.REJECTED,
)
SENDING, DONE, FAILED, SKIPPED = jobs.SENDING, jobs.DONE, jobs.ITEM_FAILED, jobs.SKIPPED


def _submissions(session: Session, study: Study) -> list[dict[str, Any]]:
    """Every synced submission of the study, the kept extra ones too."""
    found: list[dict[str, Any]] = []
    query = (
        select(Participant)
        .where(Participant.study_id == study.id, Participant.platform_status.is_not(None))
        .order_by(Participant.id)
    )
    for participant in session.scalars(query):
        found.append(
            {
                "assignment_id": participant.assignment_id,
                "worker_id": participant.worker_id,
                "hit_id": participant.hit_id,
                "code": participant.submitted_code,
                "platform_status": participant.platform_status,
                "extra": False,
            }
        )
        for extra in participant.extra_submissions or []:
            found.append(
                {
                    "assignment_id": extra["assignment_id"],
                    "worker_id": participant.worker_id,
                    "hit_id": extra.get("hit_id"),
                    "code": extra.get("submitted_code"),
                    "platform_status": extra.get("platform_status"),
                    "extra": True,
                }
            )
    return found


def build_plan(session: Session, study: Study) -> list[PlanItem]:
    """Per submitted assignment: approve, reject or flag, from the codes crowdgate issued."""
    issued: dict[str, str] = {
        normalise_code(code): worker
        for code, worker in session.execute(
            select(Participant.completion_code, Participant.worker_id).where(
                Participant.study_id == study.id, Participant.completion_code.is_not(None)
            )
        )
        if code
    }
    # Workers crowdgate saw finish: the only ones the study's shared code is valid for,
    # since anyone can pass that code around.
    recorded = set(
        session.scalars(
            select(Participant.worker_id).where(
                Participant.study_id == study.id,
                Participant.completed_at.is_not(None),
                Participant.status.in_(RECORDED_COMPLETION),
            )
        )
    )
    shared = normalise_code(study.platform_completion_code or "")
    submissions = _submissions(session, study)
    plan = []
    for s in submissions:
        if s["platform_status"] not in (records.SUBMITTED, records.APPROVED, records.REJECTED):
            continue  # returned or timed out: nothing to review
        code = normalise_code(s["code"] or "")
        action, reason, detail = _decide(s, code, issued, shared, recorded)
        plan.append(
            PlanItem(
                assignment_id=s["assignment_id"],
                worker_id=s["worker_id"],
                hit_id=s["hit_id"],
                code=s["code"],
                action=action,
                reason=reason,
                detail=detail,
            )
        )
    return flag_codes_used_twice(plan, shared)


def _decide(
    s: Mapping[str, Any],
    code: str,
    issued: Mapping[str, str],
    shared: str,
    recorded: AbstractSet[str],
) -> tuple[str, str, str]:
    if s["platform_status"] != records.SUBMITTED:
        return FLAG, "already_reviewed", f"{s['platform_status']} on the platform"
    if s["extra"]:
        return FLAG, "repeat_participation", ""
    if not code:
        return FLAG, "code_missing", ""
    if shared and code == shared:
        if s["worker_id"] in recorded:
            return APPROVE, "study_code_valid", ""
        return REJECT, "completion_not_recorded", "no completion recorded in crowdgate"
    owner = issued.get(code)
    if owner is None:
        return REJECT, "no_such_code", ""
    if owner != s["worker_id"]:
        return FLAG, "code_of_another_worker", f"issued to {owner}"
    return APPROVE, "code_valid", ""


def check_reviewable(study: Study) -> None:
    if not study.hit_ids:
        raise Conflict(
            f"Study {study.slug!r} has no HIT ids: nothing of it can be reviewed on a platform.",
            code="no_hit_ids",
            fields={"hit_ids": ["is empty"]},
        )


@jobs.register(KIND)
def run_review(run: jobs.JobRun) -> None:
    """Approve (and, if asked, reject) what the plan says; never touch flagged items."""
    with run.db.read() as session:
        study = session.get(Study, run.study_id)
        if study is None:
            raise Conflict("The job's study no longer exists.", code="study_gone")
        plan = build_plan(session, study)
        platform, mode = study.platform, study.mode
    wanted = {APPROVE} | ({REJECT} if run.params.get("reject_invalid") else set())
    items = [item for item in plan if item.action in wanted]
    client = run.connect(platform, mode)
    run.total = len(items)
    for name in ("approved", "rejected", "skipped", "failed", "flagged_untouched"):
        run.counts.setdefault(name, 0)
    run.counts["flagged_untouched"] = sum(1 for item in plan if item.action == FLAG)
    run.save_progress()
    size = client.bulk_approve_size
    approvals = [item for item in items if item.action == APPROVE] if size else []
    for start in range(0, len(approvals), size or 1):
        _approve_together(run, client, approvals[start : start + size])
        run.save_progress()
    for item in items:
        if item.action != APPROVE or not size:
            _apply_one(run, client, item)
            run.save_progress()


def _approve_together(run: jobs.JobRun, client: PlatformClient, chunk: list[PlanItem]) -> None:
    """Approve the chunk in one call. Items an earlier job touched, and every item of a
    call that was refused or got no answer, go one by one instead (approving an
    approved submission again is no error, and each is then settled on its own)."""
    keys = [item.assignment_id for item in chunk]
    with run.db.write() as session:
        touched = set(
            session.scalars(
                select(JobItem.key).where(JobItem.key.in_(keys), JobItem.state.in_((SENDING, DONE)))
            )
        )
        fresh = [item for item in chunk if item.assignment_id not in touched]
        rows = {item.assignment_id: _record_item(session, run, item, SENDING).id for item in fresh}
    for item in chunk:
        if item.assignment_id in touched:
            _apply_one(run, client, item)
    if not fresh:
        return
    try:
        client.approve_many([item.assignment_id for item in fresh])
    except PlatformError:
        _give_back(run, list(rows.values()))
        for item in fresh:
            _apply_one(run, client, item)
        return
    _finish_items(run, [(rows[item.assignment_id], item) for item in fresh], DONE, "")
    run.done += len(fresh)
    run.count("approved", len(fresh))


def _give_back(run: jobs.JobRun, row_ids: list[int]) -> None:
    """Drop a bulk call's ledger rows: each item is then approved one by one, as new,
    and recorded by that call (approving an approved submission is no error)."""
    with run.db.write() as session:
        session.execute(delete(JobItem).where(JobItem.id.in_(row_ids)))


def _apply_one(run: jobs.JobRun, client: PlatformClient, item: PlanItem) -> None:
    with run.db.write() as session:
        earlier = list(
            session.scalars(
                select(JobItem).where(
                    JobItem.key == item.assignment_id, JobItem.state.in_((SENDING, DONE))
                )
            )
        )
        if any(e.state == DONE for e in earlier):
            _record_item(session, run, item, SKIPPED, "done by an earlier job")
            run.count("skipped")
            run.done += 1
            return
        row = _record_item(session, run, item, SENDING)
        row_id = row.id
    unclear = bool(earlier)
    try:
        if unclear and _already(client, item):
            outcome = SKIPPED
        else:
            if item.action == APPROVE:
                client.approve(item.assignment_id, str(run.params.get("feedback") or ""))
            else:
                client.reject(
                    item.assignment_id,
                    str(run.params["reject_feedback"]),
                    category=run.params.get("rejection_category") or None,
                )
            outcome = DONE
    except PlatformRejected as exc:
        _finish_item(run, row_id, item, FAILED, str(exc))
        run.failed += 1
        run.count("failed")
        return
    except PlatformUnavailable:
        # The call may have taken effect: look before counting it as not done.
        if _already(client, item):
            outcome = DONE
        else:
            raise
    _finish_item(run, row_id, item, DONE, "" if outcome == DONE else "found done on the platform")
    run.done += 1
    run.count("approved" if item.action == APPROVE else "rejected")
    if earlier:
        # The earlier job's unclear item is settled now: it must not be looked at again.
        with run.db.write() as session:
            for e in earlier:
                stored = session.get(JobItem, e.id)
                if stored is not None:
                    stored.state = DONE if outcome == SKIPPED else FAILED


def _already(client: PlatformClient, item: PlanItem) -> bool:
    """Whether the platform shows the submission with the item's outcome already."""
    target = records.APPROVED if item.action == APPROVE else records.REJECTED
    if not item.hit_id:
        return False
    for submission in client.list_submissions([item.hit_id]):
        if submission.assignment_id == item.assignment_id:
            return submission.status == target
    return False


def _record_item(
    session: Session, run: jobs.JobRun, item: PlanItem, state: str, error: str = ""
) -> JobItem:
    row = JobItem(
        job_id=run.job_id,
        key=item.assignment_id,
        action=item.action,
        state=state,
        detail={"worker_id": item.worker_id, "hit_id": item.hit_id, "reason": item.reason},
        error=error or None,
        updated_at=run.clock(),
    )
    session.add(row)
    session.flush()
    return row


def _finish_item(run: jobs.JobRun, row_id: int, item: PlanItem, state: str, error: str) -> None:
    _finish_items(run, [(row_id, item)], state, error)


def _finish_items(
    run: jobs.JobRun, done: Sequence[tuple[int, PlanItem]], state: str, error: str
) -> None:
    """Close ledger rows (and, when done, their participants' record) in one write."""
    now = run.clock()
    with run.db.write() as session:
        for row_id, item in done:
            row = session.get(JobItem, row_id)
            assert row is not None
            row.state = state
            row.error = error or None
            row.updated_at = now
            if state == DONE:
                _record_review(session, run, item, now)


def _record_review(session: Session, run: jobs.JobRun, item: PlanItem, now: datetime) -> None:
    participant = session.scalar(
        select(Participant).where(
            Participant.study_id == run.study_id,
            Participant.assignment_id == item.assignment_id,
        )
    )
    if participant is None:
        return
    status = statuses.APPROVED if item.action == APPROVE else statuses.REJECTED
    participant.status = status
    participant.platform_status = records.APPROVED if item.action == APPROVE else records.REJECTED
    participant.reviewed_at = now
    participant.updated_at = now
    session.add(
        ParticipantEvent(
            participant_id=participant.id,
            status=status,
            at=now,
            detail=f"review: {item.reason}",
        )
    )


def plan_items(plan: Sequence[PlanItem], action: str | None) -> list[PlanItem]:
    return [item for item in plan if action is None or item.action == action]
