"""The durable record: admin keys, studies, participants and their status history,
exclusion groups and their members, the answers kept for repeated Idempotency-Keys,
and bulk jobs with their item ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("crowdgate stores aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class MoneyType(TypeDecorator[Decimal]):
    """Dollars and cents as NUMERIC(12, 2), read back as a Decimal on every backend.

    SQLite has no decimal type (SQLAlchemy warns when asked for Decimals from it), so
    the value comes back as a float and is rounded to cents, exact at this size.
    """

    impl = Numeric(12, 2, asdecimal=False)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> Decimal | None:
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(repr(float(value))).quantize(Decimal("0.01"))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AdminKey(Base):
    __tablename__ = "admin_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    platform: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(10))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    lease_minutes: Mapped[int] = mapped_column(Integer)
    allow_repeats: Mapped[bool] = mapped_column(Boolean, default=False)
    allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list)
    survey_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The platform postings (MTurk HIT ids) the study's submissions are synced from.
    hit_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: The answer field of a submission holding the code the worker typed in.
    code_answer_field: Mapped[str] = mapped_column(String(100), default="surveycode")
    #: The qualification type marking the study's workers, so other postings can exclude them.
    exclusion_qualification_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    #: The most one worker may receive in bonuses from the study (None: no cap).
    bonus_cap_per_worker: Mapped[Decimal | None] = mapped_column(MoneyType(), nullable=True)
    #: The most the study may pay in bonuses altogether, fees excluded (None: no budget).
    bonus_budget: Mapped[Decimal | None] = mapped_column(MoneyType(), nullable=True)
    #: The code the platform expects a finished participant to report (Prolific's
    #: study completion code); None when the platform needs none.
    platform_completion_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Where a finished participant is sent: a URL template with optional
    #: {completion_code}, {worker_id} and {study} placeholders (None: the platform's page).
    completion_redirect_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: The study's own platform token (sealed with CROWDGATE_SECRET_KEY; never shown)
    #: and workspace; None: those of crowdgate's settings.
    platform_token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    platform_workspace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("study_id", "worker_id", "attempt"),
        UniqueConstraint("study_id", "completion_code"),
        Index("ix_participants_study_status", "study_id", "status"),
        Index("ix_participants_study_condition", "study_id", "condition"),
        Index("ix_participants_study_assignment", "study_id", "assignment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    worker_id: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    assignment_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    hit_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    condition: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    completion_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What the platform says about the submission, as of the last sync (None before any).
    platform_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    answers: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    #: The code the worker typed into the posting, which need not be the one issued.
    submitted_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Further assignments of a worker in a study without repeats: kept for a person to
    # judge rather than dropped or turned into an attempt the study does not allow.
    extra_submissions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    events: Mapped[list[ParticipantEvent]] = relationship(
        back_populates="participant", order_by="ParticipantEvent.id", cascade="all, delete-orphan"
    )


class ParticipantEvent(Base):
    """One status change of a participant, kept so a study's history can be audited."""

    __tablename__ = "participant_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(Text, default="")

    participant: Mapped[Participant] = relationship(back_populates="events")


class IdempotencyRecord(Base):
    """The first answer to a POST sent with an Idempotency-Key, replayed to its repeats.

    ``status`` is None while the first request is still being handled (or if it died
    without an answer): a placeholder that makes every repeat wait instead of acting.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Who sent it ("admin:" or "survey:" and the key's hash): callers never share keys.
    scope: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    # "POST /api/v1/studies", for people reading the table; the fingerprint decides.
    request_line: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONType, nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Job(Base):
    """One bulk operation (sync, review, ...) with its progress.

    ``params`` holds everything needed to run it, so that a worker process other than
    the one that accepted the request can claim a ``queued`` row and run it;
    ``claimed_by``/``heartbeat_at`` say who runs it and whether they are still alive.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), nullable=True, index=True
    )
    state: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: Counts particular to the kind (added, updated, unchanged, approved, ...).
    counts: Mapped[dict[str, int]] = mapped_column(JSONType, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Set by a cancel request while the job runs: it stops before its next batch.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class JobItem(Base):
    """One platform call a job makes, recorded before the call so a crash or an unclear
    answer never leads to making it twice (an approval, a bonus, a message)."""

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "key"),
        Index("ix_job_items_key_state", "key", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    #: What the item is about, e.g. the assignment id.
    key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    #: pending -> sending (the call may have happened) -> done | failed | skipped
    state: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExclusionGroup(Base):
    """A named set of workers that outlives any study: the participation record.

    A group may be bound to a platform's own worker set (an MTurk qualification type)
    that sync keeps equal to it: ``binding_platform``/``binding_mode`` say where,
    ``binding_ref`` is the platform's id for it.
    """

    __tablename__ = "exclusion_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: When the participants of the studies it records join: started, completed, submitted.
    record_when: Mapped[str] = mapped_column(String(20), default="started")
    binding_platform: Mapped[str | None] = mapped_column(String(20), nullable=True)
    binding_mode: Mapped[str | None] = mapped_column(String(10), nullable=True)
    binding_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    binding_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: The group's latest sync to its binding: resumed, not restarted, if it did not finish.
    sync_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExclusionMember(Base):
    """One reason a worker belongs to a group; a worker is a member while any remains.

    ``source`` says where the membership came from (``workers``, ``hit:<id>``,
    ``study:<slug>``, ``file:<name>``) so removing by the same source undoes it alone.
    """

    __tablename__ = "exclusion_members"
    __table_args__ = (
        UniqueConstraint("group_id", "worker_id", "source"),
        Index("ix_exclusion_members_group_source", "group_id", "source"),
        # What eligibility probes: one lookup by worker finds all their groups, and
        # carries study_id so the check never reads the table (a million members cost
        # a request no more than a hundred; see benchmarks/eligibility.py).
        Index("ix_exclusion_members_worker", "worker_id", "group_id", "study_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("exclusion_groups.id", ondelete="CASCADE"))
    worker_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(200))
    #: The study whose participation put the worker here: it does not exclude from itself.
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="SET NULL"), nullable=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StudyGroup(Base):
    """How a study uses a group: ``exclude`` its members, ``include`` only its members,
    or ``record`` its own participants in it."""

    __tablename__ = "study_groups"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(10), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("exclusion_groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Bonus(Base):
    """One bonus, recorded before it is paid so that no retry or crash pays it twice.

    The unique key is what makes a resubmitted item the same bonus; ``assignment_id``
    is "" (not NULL) when there is none, because NULLs never collide in a unique key.
    """

    __tablename__ = "bonuses"
    __table_args__ = (
        UniqueConstraint("study_id", "worker_id", "assignment_id", "key"),
        Index("ix_bonuses_job_state", "job_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    worker_id: Mapped[str] = mapped_column(String(128))
    assignment_id: Mapped[str] = mapped_column(String(128), default="")
    amount: Mapped[Decimal] = mapped_column(MoneyType())
    reason: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(String(200))
    #: pending -> sending (the call may have happened) -> sent | failed
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    platform_response: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    #: The runner that moved the row to 'sending', and when: rows in flight with another
    #: live runner are not touched; rows whose runner died are settled, then resent.
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Platforms that pay in batches (Prolific): the batch set up for this bonus, and
    #: when its pay was asked for. Written before the pay is sent: from then on the
    #: row is settled by reading the platform's payments, never by paying again.
    batch_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    pay_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Message(Base):
    """A message to a study's workers; the same subject and body (or the same
    client-given key) to the same study is the same message, so resending it reaches
    only the workers it has not reached."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("study_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MessageRecipient(Base):
    """One worker a message is for, recorded before it is sent: at most one delivery
    per (message, worker), and a send whose outcome is unclear is never repeated."""

    __tablename__ = "message_recipients"
    __table_args__ = (
        UniqueConstraint("message_id", "worker_id"),
        Index("ix_message_recipients_job_state", "job_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    worker_id: Mapped[str] = mapped_column(String(128))
    #: pending -> sending (the call may have happened) -> sent | failed
    state: Mapped[str] = mapped_column(String(20))
    #: sent, soft_failure, hard_failure (the platform's word), or unclear
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    platform_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookEvent(Base):
    """A platform's hook event already handled: platforms deliver at least once and
    repeat an event under the same id, which is then answered without acting again."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    resource_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
