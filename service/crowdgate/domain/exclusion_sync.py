"""Keeping a group's platform binding (an MTurk qualification) equal to the group.

The plan compares the group's members with the workers holding the qualification:
missing ones are granted without notification; holders who are no longer members are
revoked only when asked, because the platform emails each revoked worker. Applying is a
job whose ledger holds one row per grant or revoke, written before the job sends any
of them: a job stopped midway (killed, or the platform gone) is resumed from its ledger,
and a row caught mid-call is settled by asking the platform, never by calling again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from crowdgate.domain import jobs
from crowdgate.domain.exclusion_members import member_ids
from crowdgate.errors import Conflict, ValidationFailed
from crowdgate.models import ExclusionGroup, Job, JobItem
from crowdgate.platforms import PlatformClient, get_platform
from crowdgate.platforms.failures import PlatformRejected

KIND = "exclusion_sync"
GRANT, REVOKE = "grant", "revoke"
#: What a revoked worker reads in MTurk's email unless the request says otherwise.
DEFAULT_REASON = "This requester's participation record was updated; no action is needed."
SAMPLE = 20


@dataclass(frozen=True)
class SyncPlan:
    members: int
    holders: int
    to_grant: list[str]
    to_revoke: list[str]
    #: Holders who are not members, left alone because revoking was not asked for.
    left_alone: int
    #: Members whose ids are not the platform's (a Prolific id in an MTurk-bound group).
    foreign_ids: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "holders": self.holders,
            "to_grant": len(self.to_grant),
            "to_revoke": len(self.to_revoke),
            "left_alone": self.left_alone,
            "foreign_ids": self.foreign_ids,
            "already_granted": self.members - len(self.to_grant) - self.foreign_ids,
            "grant_sample": self.to_grant[:SAMPLE],
            "revoke_sample": self.to_revoke[:SAMPLE],
        }


def check_bound(group: ExclusionGroup) -> None:
    if group.binding_ref is None or group.binding_platform is None:
        raise Conflict(
            f"Exclusion group {group.name!r} is not bound to a platform: set "
            "mturk_qualification_type_id or mturk_qualification_name, or prolific_group_id or "
            "prolific_group_name (with mode) first.",
            code="group_not_bound",
        )


def holders(client: PlatformClient, type_id: str) -> set[str]:
    return {grant.worker_id for grant in client.list_qualified(type_id)}


def make_plan(members: set[str], holding: set[str], *, revoke: bool, platform: str) -> SyncPlan:
    """Grants for members lacking the qualification; revokes (if asked) for holders who
    are not members. A member whose id the platform would refuse is left out and
    counted: no call could grant it, and retrying one would stall the job forever."""
    foreign = {w for w in members if get_platform(platform).validate_worker_id(w)}
    extra = sorted(holding - members)
    return SyncPlan(
        members=len(members),
        holders=len(holding),
        to_grant=sorted(members - holding - foreign),
        to_revoke=extra if revoke else [],
        left_alone=0 if revoke else len(extra),
        foreign_ids=len(foreign),
    )


def read_plan(
    session: Session, group: ExclusionGroup, client: PlatformClient, *, revoke: bool
) -> SyncPlan:
    check_bound(group)
    assert group.binding_ref is not None
    return make_plan(
        member_ids(session, group.id),
        holders(client, group.binding_ref),
        revoke=revoke,
        platform=str(group.binding_platform),
    )


def start_or_resume(
    session: Session,
    group: ExclusionGroup,
    *,
    revoke: bool,
    reason: str,
    now: datetime,
    stale_before: datetime,
) -> tuple[Job, bool]:
    """The job that applies the group's sync: its unfinished one if any, else a new one.

    Returns the job (queued, ready to run) and whether it resumes an earlier one. A job
    still making progress is not touched (409); one that died or failed carries on
    from its ledger rather than starting over, so nobody is granted twice.
    """
    check_bound(group)
    params = {
        "group_id": group.id,
        "platform": group.binding_platform,
        "mode": group.binding_mode,
        "type_id": group.binding_ref,
        "revoke": revoke,
        "reason": reason,
    }
    earlier = session.get(Job, group.sync_job_id) if group.sync_job_id else None
    if earlier is not None and earlier.state in (jobs.QUEUED, jobs.RUNNING):
        beat = earlier.heartbeat_at or earlier.created_at
        if earlier.state == jobs.RUNNING and beat >= stale_before:
            raise Conflict(
                f"A sync of group {group.name!r} is running (job {earlier.id}).",
                code="sync_in_progress",
                extra={"job_id": earlier.id},
            )
    if earlier is not None and earlier.state in (jobs.QUEUED, jobs.RUNNING, jobs.FAILED):
        same = all(earlier.params.get(k) == v for k, v in params.items() if k != "reason")
        if same:
            # A new dict: the JSON column notices assignment, not changes in place.
            earlier.params = {**earlier.params, "reason": reason}
            earlier.state = jobs.QUEUED
            earlier.error = earlier.error_code = None
            earlier.finished_at = None
            return earlier, True
    job = jobs.create_job(session, KIND, study=None, params=params, now=now)
    group.sync_job_id = job.id
    return job, False


@jobs.register(KIND)
def run_exclusion_sync(run: jobs.JobRun) -> None:
    params = run.params
    client = run.connect(str(params["platform"]), str(params["mode"]))
    type_id = str(params["type_id"])
    for name in ("granted", "revoked", "failed", "settled_after_restart", "superseded"):
        run.counts.setdefault(name, 0)
    resuming = _has_items(run)
    if resuming:
        _settle_unclear(run, client, type_id)
    # Planned (again, on a resume) from the group and the holders as they are now: the
    # group may have changed while the job was stopped, and the ledger keeps it from
    # sending anything twice either way.
    with run.db.read() as session:
        members = member_ids(session, int(params["group_id"]))
    plan = make_plan(
        members,
        holders(client, type_id),
        revoke=bool(params["revoke"]),
        platform=str(params["platform"]),
    )
    if resuming:
        _replan(run, plan)
    else:
        run.result = plan.summary()
        _write_items(run, plan)
    _tally(run)
    run.save_progress()
    _send(run, client, type_id)


def _has_items(run: jobs.JobRun) -> bool:
    with run.db.read() as session:
        return (
            session.scalar(select(JobItem.id).where(JobItem.job_id == run.job_id).limit(1))
            is not None
        )


def _wanted(plan: SyncPlan) -> dict[str, str]:
    return {**{w: GRANT for w in plan.to_grant}, **{w: REVOKE for w in plan.to_revoke}}


def _replan(run: jobs.JobRun, plan: SyncPlan) -> None:
    """Bring the unsent rows in line with ``plan``: drop what is no longer wanted, turn
    a row around if the member came back or left, and add rows for newcomers."""
    wanted = _wanted(plan)
    with run.db.write() as session:
        rows = {
            key: (row_id, action, state)
            for row_id, key, action, state in session.execute(
                select(JobItem.id, JobItem.key, JobItem.action, JobItem.state).where(
                    JobItem.job_id == run.job_id
                )
            )
        }
        for key, (row_id, action, state) in rows.items():
            if state != jobs.PENDING or wanted.get(key) == action:
                continue
            values: dict[str, Any] = {"updated_at": run.clock()}
            if key in wanted:
                values["action"] = wanted[key]
            else:
                values.update(state=jobs.SKIPPED, detail={"superseded": "no longer needed"})
                run.count("superseded")
            session.execute(update(JobItem).where(JobItem.id == row_id).values(**values))
        _insert_items(session, run, [(a, w) for w, a in wanted.items() if w not in rows])


def _write_items(run: jobs.JobRun, plan: SyncPlan) -> None:
    rows = [(GRANT, w) for w in plan.to_grant] + [(REVOKE, w) for w in plan.to_revoke]
    with run.db.write() as session:
        _insert_items(session, run, rows)


def _insert_items(session: Session, run: jobs.JobRun, rows: list[tuple[str, str]]) -> None:
    now = run.clock()
    for start in range(0, len(rows), 500):
        session.execute(
            insert(JobItem),
            [
                {
                    "job_id": run.job_id,
                    "key": worker_id,
                    "action": action,
                    "state": jobs.PENDING,
                    "detail": {},
                    "updated_at": now,
                }
                for action, worker_id in rows[start : start + 500]
            ],
        )


def _settle_unclear(run: jobs.JobRun, client: PlatformClient, type_id: str) -> None:
    """Rows left 'sending' by a run that stopped: the platform says whether they happened."""
    with run.db.read() as session:
        unclear = list(
            session.execute(
                select(JobItem.id, JobItem.action, JobItem.key).where(
                    JobItem.job_id == run.job_id, JobItem.state == jobs.SENDING
                )
            )
        )
    if not unclear:
        return
    holding = holders(client, type_id)
    with run.db.write() as session:
        for row_id, action, worker_id in unclear:
            happened = (worker_id in holding) == (action == GRANT)
            session.execute(
                update(JobItem)
                .where(JobItem.id == row_id)
                .values(
                    state=jobs.DONE if happened else jobs.PENDING,
                    detail={"settled": "found done on the platform" if happened else "resent"},
                    updated_at=run.clock(),
                )
            )
            if happened:
                run.count("settled_after_restart")


def _tally(run: jobs.JobRun) -> None:
    with run.db.read() as session:
        rows = session.execute(
            select(JobItem.action, JobItem.state, func.count())
            .where(JobItem.job_id == run.job_id)
            .group_by(JobItem.action, JobItem.state)
        )
        run.total = run.done = run.failed = 0
        run.counts["granted"] = run.counts["revoked"] = run.counts["failed"] = 0
        for action, state, count in rows:
            if state == jobs.SKIPPED:
                continue
            run.total += count
            if state == jobs.DONE:
                run.done += count
                run.count("granted" if action == GRANT else "revoked", count)
            elif state == jobs.ITEM_FAILED:
                run.failed += count
                run.count("failed", count)


def _pending(run: jobs.JobRun) -> Sequence[tuple[int, str, str]]:
    with run.db.read() as session:
        return [
            (row_id, action, worker_id)
            for row_id, action, worker_id in session.execute(
                select(JobItem.id, JobItem.action, JobItem.key)
                .where(JobItem.job_id == run.job_id, JobItem.state == jobs.PENDING)
                .order_by(JobItem.id)
            )
        ]


def _send(run: jobs.JobRun, client: PlatformClient, type_id: str) -> None:
    """Each row is marked 'sending' in the same transaction that closes the one before,
    so a row costs one write, and any row found 'sending' later is one that was in
    flight."""
    finished: tuple[int, str, str | None] | None = None
    reason = str(run.params.get("reason") or DEFAULT_REASON)
    for row_id, action, worker_id in _pending(run):
        with run.db.write() as session:
            if finished is not None:
                _close(session, run, *finished)
            session.execute(
                update(JobItem)
                .where(JobItem.id == row_id)
                .values(state=jobs.SENDING, updated_at=run.clock())
            )
            run.save_progress(session)
        try:
            if action == GRANT:
                client.grant_qualification(type_id, worker_id, 1, notify=False)
            else:
                client.revoke_qualification(type_id, worker_id, reason)
        except PlatformRejected as exc:
            finished = (row_id, jobs.ITEM_FAILED, f"{exc.platform_code or exc.code}: {exc.message}")
            run.failed += 1
            run.count("failed")
            continue
        except ValidationFailed as exc:
            # Refused before any call (the platform's own checks): nothing was sent.
            finished = (row_id, jobs.ITEM_FAILED, f"{exc.code}: {exc.message}")
            run.failed += 1
            run.count("failed")
            continue
        finished = (row_id, jobs.DONE, None)
        run.done += 1
        run.count("granted" if action == GRANT else "revoked")
    if finished is not None:
        with run.db.write() as session:
            _close(session, run, *finished)


def _close(session: Session, run: jobs.JobRun, row_id: int, state: str, error: str | None) -> None:
    session.execute(
        update(JobItem)
        .where(JobItem.id == row_id)
        .values(state=state, error=error, updated_at=run.clock())
    )
