"""Answers of the qualification operations: a type, its holders, per-worker outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from crowdgate_client.models import JSONObject, _extra, _optional_datetime


@dataclass(frozen=True, kw_only=True)
class QualificationType:
    """A qualification type on a platform; ``created`` is False when one was reused."""

    id: str
    name: str
    description: str
    platform: str
    mode: str
    created: bool
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            id=data["id"],
            name=data["name"],
            description=data.get("description", "") or "",
            platform=data["platform"],
            mode=data["mode"],
            created=bool(data.get("created", False)),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class QualifiedWorker:
    """A worker holding a qualification type, with the value they hold."""

    worker_id: str
    value: int
    granted_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            worker_id=data["worker_id"],
            value=data["value"],
            granted_at=_optional_datetime(data.get("granted_at")),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class WorkerFailure:
    """Why the platform refused or failed one worker's grant or revocation."""

    code: str  # crowdgate's: platform_rejected, platform_unavailable...
    message: str
    platform_code: str | None = None  # the platform's own, e.g. MTurk's TurkErrorCode
    retryable: bool = False  # throttled or a 5xx: asking again later may work
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            code=data["code"],
            message=data.get("message", "") or "",
            platform_code=data.get("platform_code"),
            retryable=bool(data.get("retryable", False)),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class WorkerOutcome:
    """What happened to one worker: ``outcome`` is granted, revoked or failed."""

    worker_id: str
    outcome: str
    error: WorkerFailure | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome != "failed"

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        error = data.get("error")
        return cls(
            worker_id=data["worker_id"],
            outcome=data["outcome"],
            error=WorkerFailure.from_json(error) if error else None,
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class _WorkerOutcomes:
    results: tuple[WorkerOutcome, ...]
    failed: int

    @property
    def failures(self) -> tuple[WorkerOutcome, ...]:
        """The workers whose change failed, to look at or to try again."""
        return tuple(result for result in self.results if not result.ok)


@dataclass(frozen=True, kw_only=True)
class QualificationGrants(_WorkerOutcomes):
    """The outcome of a grant, one result per worker in the order given."""

    granted: int
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            results=tuple(WorkerOutcome.from_json(item) for item in data.get("results", ())),
            granted=data.get("granted", 0),
            failed=data.get("failed", 0),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class QualificationRevocations(_WorkerOutcomes):
    """The outcome of a revocation, one result per worker in the order given."""

    revoked: int
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            results=tuple(WorkerOutcome.from_json(item) for item in data.get("results", ())),
            revoked=data.get("revoked", 0),
            failed=data.get("failed", 0),
            extra=_extra(cls, data),
        )
