"""Idempotency keys: a repeated POST gets the first answer instead of acting twice.

The first request with a key leaves a placeholder before it acts and fills in its
answer after. A repeat with the same fingerprint gets the stored answer; one that
arrives while the placeholder is empty is refused, since nobody can tell whether the
first request acted. An empty placeholder is never taken as "did not act": a crash
between acting and storing must not let the action run twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crowdgate.db import Database
from crowdgate.domain.keys import hash_key, is_admin_key
from crowdgate.domain.studies import find_study_by_survey_key
from crowdgate.errors import Conflict, ValidationFailed
from crowdgate.models import IdempotencyRecord

HEADER = "Idempotency-Key"
#: Answers are kept at least this long; a key reused later acts again.
RETENTION = timedelta(hours=24)
#: Records older than RETENTION are deleted at most this often per process.
PURGE_EVERY = timedelta(minutes=10)
#: No request runs this long: a placeholder this old belongs to a request that died.
ABANDONED_AFTER = timedelta(minutes=5)

# Printable ASCII, as Stripe and the IETF draft use: UUIDs, ULIDs, "order-42-retry".
_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an idempotency key, or None when it can."""
    if not key:
        return "is empty"
    if len(key) > 255:
        return "is longer than 255 characters"
    if not _KEY.fullmatch(key):
        return "may hold only printable ASCII characters"
    return None


@dataclass(frozen=True)
class KeyOwner:
    """The key a request came with; records are kept per owner, never shared."""

    kind: Literal["admin", "survey"]
    secret: str

    @property
    def scope(self) -> str:
        return f"{self.kind}:{hash_key(self.secret)}"

    def is_live(self, session: Session) -> bool:
        if self.kind == "admin":
            return is_admin_key(session, self.secret)
        return find_study_by_survey_key(session, self.secret) is not None


@dataclass(frozen=True)
class KeyedRequest:
    owner: KeyOwner
    key: str
    request_line: str  # "POST /api/v1/studies"
    fingerprint: str  # a hash of method, path, query, content type and body


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Started:
    """The request is the first with its key: act, then finish() or release()."""

    record_id: int


class KeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    retry_after = 1


def purge(db: Database, *, now: datetime) -> int:
    """Delete the records older than RETENTION; returns how many went."""
    with db.write() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _find(session: Session, owner: KeyOwner, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.scope == owner.scope, IdempotencyRecord.key == key
        )
    )


def _judge(found: IdempotencyRecord, keyed: KeyedRequest, now: datetime) -> Answer:
    """The stored answer for a repeat, or the refusal that fits."""
    if found.fingerprint != keyed.fingerprint:
        raise ValidationFailed(
            f"This {HEADER} was used in the last {RETENTION.total_seconds() / 3600:g} hours "
            f"for a different request ({found.request_line} with other parameters or body). "
            "Send a new key with a new request.",
            code="idempotency_key_reused",
            fields={HEADER: ["was used for a different request"]},
        )
    if found.status is None:
        if now - found.created_at > ABANDONED_AFTER:
            raise Conflict(
                f"The first request with this {HEADER} stopped without recording its answer, "
                "so crowdgate cannot tell whether it acted. Check the record, then send a new "
                "key if the request is still needed.",
                code="idempotency_key_abandoned",
                fields={HEADER: ["its first request stopped without an answer"]},
            )
        raise KeyInProgress(
            f"A request with this {HEADER} is still being handled; ask again in a moment.",
            fields={HEADER: ["is in use by a request still running"]},
        )
    return Answer(found.status, dict(found.headers or {}), found.body or b"")


def begin(db: Database, keyed: KeyedRequest, *, now: datetime) -> Started | Answer | None:
    """Claim the key for this request, or give the answer stored for it.

    None when the caller's key is not a live admin or survey key: nothing is stored
    for callers the view will refuse anyway. Raises ValidationFailed for a key reused
    on a different request and Conflict while the first request has no answer yet.
    """
    try:
        with db.write() as session:
            if not keyed.owner.is_live(session):
                return None
            found = _find(session, keyed.owner, keyed.key)
            if found is not None and found.created_at <= now - RETENTION:
                session.delete(found)
                session.flush()
                found = None
            if found is not None:
                return _judge(found, keyed, now)
            record = IdempotencyRecord(
                scope=keyed.owner.scope,
                key=keyed.key,
                request_line=keyed.request_line,
                fingerprint=keyed.fingerprint,
                created_at=now,
            )
            session.add(record)
            session.flush()
            return Started(record.id)
    except IntegrityError:
        # Another request with this key claimed it between our read and insert.
        with db.read() as session:
            found = _find(session, keyed.owner, keyed.key)
            if found is None:
                raise KeyInProgress(
                    f"A request with this {HEADER} is still being handled; ask again in a moment."
                ) from None
            return _judge(found, keyed, now)


def finish(db: Database, record_id: int, answer: Answer, *, now: datetime) -> None:
    """Store the answer that repeats of the key will get."""
    with db.write() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(
                status=answer.status,
                headers=answer.headers,
                body=answer.body,
                completed_at=now,
            )
        )


def release(db: Database, record_id: int) -> None:
    """Drop the placeholder of a request that failed on the server, so a retry may act."""
    with db.write() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
