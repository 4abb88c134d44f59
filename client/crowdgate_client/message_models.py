"""Answers of the message operations: the plan a dry run shows, the study's messages and
each message's recipients."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from crowdgate_client.models import JSONObject, _extra, _optional_datetime


@dataclass(frozen=True, kw_only=True)
class RefusedWorker:
    """A worker named in ``worker_ids`` the service would not message, and why (``code``:
    invalid_worker_id, duplicate_in_request or not_a_participant)."""

    index: int
    worker_id: str
    code: str
    detail: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            index=data["index"],
            worker_id=data["worker_id"],
            code=data["code"],
            detail=data.get("detail", "") or "",
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class MessagePlan:
    """Whom sending would message now (``count``; ``recipients`` lists the first 1000),
    whom the same message reached or failed for before, and who is refused."""

    study: str
    key: str
    count: int
    recipients: tuple[str, ...] = ()
    recipients_truncated: bool = False
    message_id: int | None = None
    already_sent: int = 0
    already_failed: int = 0
    in_progress: int = 0
    refused: tuple[RefusedWorker, ...] = ()
    dry_run: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            study=data["study"],
            key=data["key"],
            count=data["count"],
            recipients=tuple(data.get("recipients") or ()),
            recipients_truncated=bool(data.get("recipients_truncated")),
            message_id=data.get("message_id"),
            already_sent=data.get("already_sent", 0) or 0,
            already_failed=data.get("already_failed", 0) or 0,
            in_progress=data.get("in_progress", 0) or 0,
            refused=tuple(RefusedWorker.from_json(r) for r in data.get("refused") or ()),
            dry_run=data.get("dry_run", True),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Message:
    """A message of a study, with its recipients counted by outcome (sent, soft_failure,
    hard_failure, unclear) or, not yet settled, by state (pending, sending)."""

    id: int
    key: str
    subject: str
    body: str
    created_at: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            id=data["id"],
            key=data["key"],
            subject=data.get("subject", "") or "",
            body=data.get("body", "") or "",
            created_at=_optional_datetime(data.get("created_at")),
            counts=dict(data.get("counts") or {}),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class MessageRecipient:
    """One worker of a message: ``state`` pending, sending, sent or failed; ``outcome``
    sent, soft_failure, hard_failure or unclear (maybe delivered: never sent again)."""

    id: int
    worker_id: str
    state: str
    outcome: str | None = None
    platform_code: str | None = None
    error: str | None = None
    attempts: int = 0
    job_id: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            id=data["id"],
            worker_id=data["worker_id"],
            state=data["state"],
            outcome=data.get("outcome"),
            platform_code=data.get("platform_code"),
            error=data.get("error"),
            attempts=data.get("attempts", 0) or 0,
            job_id=data.get("job_id"),
            created_at=_optional_datetime(data.get("created_at")),
            sent_at=_optional_datetime(data.get("sent_at")),
            extra=_extra(cls, data),
        )
