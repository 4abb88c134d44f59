"""Sync: every submission on a study's postings, upserted into the participants' record.

The platform is read page by page with no transaction open; each batch of submissions
is then written in one short transaction. Nothing is ever deleted, so the record keeps
workers after the platform forgets a posting (MTurk disposes of HITs after 120 days).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from crowdgate.domain import jobs, statuses
from crowdgate.domain.exclusion_groups import STARTED, SUBMITTED
from crowdgate.domain.exclusion_members import record_participants
from crowdgate.errors import Conflict
from crowdgate.models import Participant, ParticipantEvent, Study
from crowdgate.platforms import records
from crowdgate.platforms.records import Submission

KIND = "sync"
BATCH = 500
#: The platform's submission status -> the participant status it implies.
STATUS_OF = {
    records.SUBMITTED: statuses.SUBMITTED,
    records.APPROVED: statuses.APPROVED,
    records.REJECTED: statuses.REJECTED,
    records.RETURNED: statuses.RETURNED,
    records.TIMED_OUT: statuses.ABANDONED,
}
#: Submissions whose worker handed the work in (not returned or timed out).
HANDED_IN = (records.SUBMITTED, records.APPROVED, records.REJECTED)
#: Statuses a later "submitted" from the platform does not undo.
REVIEWED = (statuses.APPROVED, statuses.REJECTED)
MAX_CODE = 200


def check_syncable(study: Study) -> None:
    if not study.hit_ids:
        raise Conflict(
            f"Study {study.slug!r} has no HIT ids to sync: set hit_ids on the study first.",
            code="no_hit_ids",
            fields={"hit_ids": ["is empty"]},
        )


def typed_code(submission: Submission, answer_field: str) -> str | None:
    code = submission.answers.get(answer_field)
    if code is None:
        return None
    return code[:MAX_CODE]


def _platform_values(submission: Submission, answer_field: str) -> dict[str, Any]:
    return {
        "assignment_id": submission.assignment_id,
        "hit_id": submission.posting_id,
        "platform_status": submission.status,
        "answers": dict(submission.answers),
        "submitted_code": typed_code(submission, answer_field),
        "accepted_at": submission.accepted_at,
        "submitted_at": submission.submitted_at,
        "reviewed_at": submission.reviewed_at,
    }


def _extra_entry(submission: Submission, answer_field: str) -> dict[str, Any]:
    values = _platform_values(submission, answer_field)
    for name in ("accepted_at", "submitted_at", "reviewed_at"):
        values[name] = values[name].isoformat() if values[name] else None
    return values


class Tally(Protocol):
    """What a batch reports to: a sync job's run, or a ``Counts`` of its own."""

    done: int

    def count(self, name: str, by: int = 1) -> None: ...


class Counts:
    """A tally for applying submissions outside a job (a platform's hook)."""

    def __init__(self) -> None:
        self.done = 0
        self.counts: dict[str, int] = {}

    def count(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by


def apply_submission(session: Session, study: Study, submission: Submission, now: datetime) -> str:
    """Apply one submission to ``study``'s record by sync's own rules; returns what
    became of it: added, updated, unchanged or flagged."""
    tally = Counts()
    SyncBatch(session, study, now, tally).apply([submission])
    return next(iter(tally.counts), "unchanged")


class SyncBatch:
    """Applies one batch of submissions to one study's participants."""

    def __init__(self, session: Session, study: Study, now: datetime, run: Tally) -> None:
        self.session = session
        self.study = study
        self.now = now
        self.run = run

    def apply(self, batch: Sequence[Submission]) -> None:
        workers = {s.worker_id for s in batch}
        rows: dict[str, list[Any]] = {}
        self.new: list[SimpleNamespace] = []
        for participant in self.session.scalars(
            select(Participant)
            .where(Participant.study_id == self.study.id, Participant.worker_id.in_(workers))
            .order_by(Participant.attempt)
        ):
            rows.setdefault(participant.worker_id, []).append(participant)
        for submission in batch:
            self._one(submission, rows.setdefault(submission.worker_id, []))
            self.run.done += 1
        self._insert_new()
        self._record(batch)

    def _record(self, batch: Sequence[Submission]) -> None:
        """Put the workers in the groups recording this study, by how far they got."""
        by_event: dict[str, set[str]] = {}
        for submission in batch:
            event = SUBMITTED if submission.status in HANDED_IN else STARTED
            by_event.setdefault(event, set()).add(submission.worker_id)
        for event, workers in by_event.items():
            record_participants(
                self.session, self.study.id, self.study.slug, sorted(workers), event, now=self.now
            )

    def _insert_new(self) -> None:
        """New participants and their first event in two multi-row INSERTs.

        Building ORM objects and flushing them one by one took most of a 10,000-row
        sync; rows that nothing else holds yet need none of the unit of work.
        """
        if not self.new:
            return
        values = [vars(row) for row in self.new]
        # RETURNING makes SQLAlchemy send "insertmanyvalues" batches (many rows per
        # statement, compiled once); a plain executemany is a statement per row.
        inserted = self.session.execute(
            insert(Participant).returning(Participant.assignment_id, Participant.id),
            [{k: v for k, v in row.items() if k != "event_detail"} for row in values],
        )
        id_of = {assignment_id: participant_id for assignment_id, participant_id in inserted}
        self.session.execute(
            insert(ParticipantEvent).returning(ParticipantEvent.id),
            [
                {
                    "participant_id": id_of[row["assignment_id"]],
                    "status": row["status"],
                    "at": self.now,
                    "detail": row["event_detail"],
                }
                for row in values
            ],
        ).all()

    def _one(self, submission: Submission, attempts: list[Any]) -> None:
        field = self.study.code_answer_field
        for participant in attempts:
            if participant.assignment_id == submission.assignment_id:
                self._update(participant, submission)
                return
            for index, extra in enumerate(participant.extra_submissions or []):
                if extra.get("assignment_id") == submission.assignment_id:
                    entry = _extra_entry(submission, field)
                    if entry == extra:
                        self.run.count("unchanged")
                    else:
                        kept = list(participant.extra_submissions)
                        kept[index] = entry
                        participant.extra_submissions = kept
                        self.run.count("updated")
                    return
        latest = attempts[-1] if attempts else None
        if latest is not None and latest.assignment_id is None:
            # Started through crowdgate without an assignment id: this is their submission.
            self._update(latest, submission)
        elif latest is None or self.study.allow_repeats:
            attempts.append(self._add(submission, 1 if latest is None else latest.attempt + 1))
        else:
            # A second assignment in a study without repeats: kept for a person to judge.
            latest.extra_submissions = [
                *(latest.extra_submissions or []),
                _extra_entry(submission, field),
            ]
            latest.updated_at = self.now
            self.run.count("flagged")

    def _update(self, participant: Participant, submission: Submission) -> None:
        values = _platform_values(submission, self.study.code_answer_field)
        changed = {
            name: value for name, value in values.items() if getattr(participant, name) != value
        }
        status = self._status_for(participant, submission)
        if not changed and status is None:
            self.run.count("unchanged")
            return
        for name, value in changed.items():
            setattr(participant, name, value)
        participant.synced_at = self.now
        participant.updated_at = self.now
        if status is not None:
            participant.status = status
            self.session.add(
                ParticipantEvent(
                    participant_id=participant.id,
                    status=status,
                    at=self.now,
                    detail=f"synced: {submission.platform_status} on {submission.posting_id}",
                )
            )
        self.run.count("updated")

    def _status_for(self, participant: Participant, submission: Submission) -> str | None:
        status = STATUS_OF.get(submission.status)
        if status is None or status == participant.status:
            return None
        if status not in REVIEWED and participant.status in REVIEWED:
            return None
        if status in (statuses.RETURNED, statuses.ABANDONED) and (
            participant.status in statuses.FINISHED
        ):
            return None
        return status

    def _add(self, submission: Submission, attempt: int) -> SimpleNamespace:
        status = STATUS_OF.get(submission.status, statuses.SUBMITTED)
        since = submission.accepted_at or submission.submitted_at or self.now
        row = SimpleNamespace(
            study_id=self.study.id,
            worker_id=submission.worker_id,
            attempt=attempt,
            status=status,
            state={},
            started_at=since,
            updated_at=self.now,
            synced_at=self.now,
            extra_submissions=[],
            event_detail=f"synced: {submission.platform_status} on {submission.posting_id}; "
            "never started through crowdgate",
            **_platform_values(submission, self.study.code_answer_field),
        )
        self.new.append(row)
        self.run.count("added")
        return row


@jobs.register(KIND)
def run_sync(run: jobs.JobRun) -> None:
    """Pull every submission of the study's postings; then mark the workers, if asked."""
    with run.db.read() as session:
        study = session.get(Study, run.study_id)
        if study is None:
            raise Conflict("The job's study no longer exists.", code="study_gone")
        hit_ids = list(study.hit_ids)
        platform, mode = study.platform, study.mode
        qualification = study.exclusion_qualification_id
    client = run.connect(platform, mode)
    for name in ("added", "updated", "unchanged", "flagged"):
        run.counts.setdefault(name, 0)
    run.result = {"hit_ids": hit_ids}
    workers: set[str] = set()
    pending: list[Submission] = []

    def write() -> None:
        run.total += len(pending)
        workers.update(s.worker_id for s in pending)
        with run.db.write() as session:
            study = session.get(Study, run.study_id)
            assert study is not None
            SyncBatch(session, study, run.clock(), run).apply(pending)
            run.save_progress(session)
        pending.clear()

    try:
        # Pages are fetched with no transaction open; each batch is one short write.
        for submission in client.list_submissions(hit_ids):
            pending.append(submission)
            if len(pending) >= BATCH:
                write()
    finally:
        # What was read before a platform failure is kept: a retry has less to do.
        if pending:
            write()
        run.result["workers"] = len(workers)
    if client.posting_completion_codes:
        _learn_completion_code(run, client, hit_ids)
    if qualification:
        _qualify(run, client, qualification, workers)


def _learn_completion_code(run: jobs.JobRun, client: Any, hit_ids: list[str]) -> None:
    """A study that names no platform completion code takes its posting's, so that
    review knows the code participants type and /complete can send them back with it."""
    with run.db.read() as session:
        study = session.get(Study, run.study_id)
        if study is None or study.platform_completion_code:
            return
    for hit_id in hit_ids:
        # The record keeps codes of up to 64 characters (Prolific's are far shorter).
        codes = [c for c in client.get_posting(hit_id).completion_codes if len(c) <= 64]
        if codes:
            with run.db.write() as session:
                study = session.get(Study, run.study_id)
                if study is not None and not study.platform_completion_code:
                    study.platform_completion_code = codes[0]
                    study.updated_at = run.clock()
                    run.result["platform_completion_code"] = codes[0]
            return


def _qualify(run: jobs.JobRun, client: Any, type_id: str, workers: set[str]) -> None:
    """Grant the study's exclusion qualification, quietly, to synced workers lacking it."""
    run.counts.setdefault("qualified", 0)
    have = {grant.worker_id for grant in client.list_qualified(type_id)}
    missing = sorted(workers - have)
    run.counts["already_qualified"] = len(workers) - len(missing)
    for index, worker_id in enumerate(missing, 1):
        client.grant_qualification(type_id, worker_id, 1, notify=False)
        run.count("qualified")
        if index % 100 == 0:
            run.save_progress()
