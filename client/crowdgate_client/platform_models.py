"""Answers of the platform operations (jobs, review plans, HITs, balance) as dataclasses.

Money comes as strings from the service and is kept as ``Decimal`` here: never a float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from crowdgate_client.models import JSONObject, _extra, _optional_datetime

#: States a job ends in; it is still running in any other.
FINISHED_STATES = frozenset({"succeeded", "failed", "cancelled"})


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True, kw_only=True)
class Job:
    """A bulk operation (sync, review...) and how far it got."""

    job_id: str
    kind: str
    study: str | None
    state: str
    total: int = 0
    done: int = 0
    failed: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            job_id=data["job_id"],
            kind=data["kind"],
            study=data.get("study"),
            state=data["state"],
            total=data.get("total", 0) or 0,
            done=data.get("done", 0) or 0,
            failed=data.get("failed", 0) or 0,
            counts=dict(data.get("counts") or {}),
            result=dict(data.get("result") or {}),
            error=data.get("error"),
            error_code=data.get("error_code"),
            created_at=_optional_datetime(data.get("created_at")),
            started_at=_optional_datetime(data.get("started_at")),
            finished_at=_optional_datetime(data.get("finished_at")),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class PlanItem:
    """One submission in a review plan: what to do with it and why."""

    assignment_id: str
    worker_id: str
    action: str  # approve, reject or flag
    reason: str
    hit_id: str | None = None
    code: str | None = None
    detail: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            assignment_id=data["assignment_id"],
            worker_id=data["worker_id"],
            action=data["action"],
            reason=data["reason"],
            hit_id=data.get("hit_id"),
            code=data.get("code"),
            detail=data.get("detail", "") or "",
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class ReviewPlan:
    """What a review would do (a dry run), item by item, with counts per action."""

    study: str | None
    items: tuple[PlanItem, ...]
    counts: Mapping[str, int]
    total: int
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            study=data.get("study"),
            items=tuple(PlanItem.from_json(item) for item in data.get("items", ())),
            counts=dict(data.get("counts") or {}),
            total=data.get("total", 0),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class HitCost:
    """One HIT of a plan (or one created): its assignments and what it costs."""

    index: int
    assignments: int
    rewards: Decimal | None
    fees: Decimal | None
    total: Decimal | None
    hit_id: str | None = None
    hit_type_id: str | None = None
    status: str | None = None
    expires_at: datetime | None = None
    worker_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            index=data.get("index", 0),
            assignments=data.get("assignments", 0),
            rewards=_money(data.get("rewards")),
            fees=_money(data.get("fees")),
            total=_money(data.get("total")),
            hit_id=data.get("hit_id"),
            hit_type_id=data.get("hit_type_id"),
            status=data.get("status"),
            expires_at=_optional_datetime(data.get("expires_at")),
            worker_url=data.get("worker_url"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class HitPlan:
    """HITs to create (a dry run) or created: each one's cost, totals, and the balance."""

    dry_run: bool
    slug: str
    mode: str
    reward: Decimal | None
    assignments: int
    micro_batches: bool
    hits: tuple[HitCost, ...]
    total: Decimal | None
    saving: Decimal | None
    balance: Decimal | None
    sufficient: bool | None
    currency: str = "USD"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            dry_run=data.get("dry_run", True),
            slug=data.get("slug", ""),
            mode=data.get("mode", ""),
            reward=_money(data.get("reward")),
            assignments=data.get("assignments", 0),
            micro_batches=data.get("micro_batches", False),
            hits=tuple(HitCost.from_json(hit) for hit in data.get("hits", ())),
            total=_money(data.get("total")),
            saving=_money(data.get("saving")),
            balance=_money(data.get("balance")),
            sufficient=data.get("sufficient"),
            currency=data.get("currency") or "USD",
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One of a study's HITs as the platform reports it now."""

    hit_id: str
    status: str | None = None
    title: str | None = None
    reward: Decimal | None = None
    assignments: int | None = None
    available: int | None = None
    pending: int | None = None
    completed: int | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    worker_url: str | None = None
    problem: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            hit_id=data["hit_id"],
            status=data.get("status"),
            title=data.get("title"),
            reward=_money(data.get("reward")),
            assignments=data.get("assignments"),
            available=data.get("available"),
            pending=data.get("pending"),
            completed=data.get("completed"),
            created_at=_optional_datetime(data.get("created_at")),
            expires_at=_optional_datetime(data.get("expires_at")),
            worker_url=data.get("worker_url"),
            problem=data.get("problem"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Balance:
    platform: str
    mode: str
    balance: Decimal
    currency: str
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            platform=data["platform"],
            mode=data["mode"],
            balance=Decimal(str(data["balance"])),
            currency=data.get("currency") or "USD",
            extra=_extra(cls, data),
        )
