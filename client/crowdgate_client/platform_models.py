"""Answers of the platform operations (jobs, review plans, HITs, balance) as dataclasses.

Money comes as strings from the service and is kept as ``Decimal`` here: never a float.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, Self

from crowdgate_client.models import JSONObject, _extra, _optional_datetime

#: States a job ends in; it is still running in any other.
FINISHED_STATES = frozenset({"succeeded", "failed", "cancelled"})


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class JobCalls(Protocol):
    """What a job needs of the client that returned it to wait for it and cancel it."""

    def cancel_job(self, job_id: str) -> Job: ...

    def wait_for_job(
        self,
        job: Job | str,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job: ...


@dataclass(frozen=True, kw_only=True)
class Job:
    """A bulk operation (sync, review...) and how far it got.

    A job a ``Client`` returned can ``wait()`` for its end and ``cancel()`` itself through
    that client; the client is not a field, so it is neither compared nor shown.
    """

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
    #: A cancel was asked for: a running job stops before its next batch.
    cancel_requested: bool = False
    #: Items finished per second since the job (re)started, once the service can tell.
    rate_per_second: float | None = None
    #: Seconds left at that rate; None until it can be estimated.
    eta_seconds: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def wait(
        self,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Poll until the job finishes (TimeoutError after ``timeout`` seconds); the
        finished job. ``on_progress`` gets the job after each poll."""
        return self._calls().wait_for_job(self, timeout=timeout, poll=poll, on_progress=on_progress)

    def cancel(self) -> Job:
        """Cancel the job: a queued one at once, a running one before its next batch
        (ConflictError once it has finished)."""
        return self._calls().cancel_job(self.job_id)

    def with_extra(self, **extra: Any) -> Job:
        """This job with more ``extra`` fields, still able to wait and cancel."""
        changed = dataclasses.replace(self, extra={**self.extra, **extra})
        return changed._bind(self.__dict__.get("_client"))

    def _bind(self, client: JobCalls | None) -> Self:
        # Not a field: dataclass equality, repr and field-wise export leave it out.
        object.__setattr__(self, "_client", client)
        return self

    def _calls(self) -> JobCalls:
        client: JobCalls | None = self.__dict__.get("_client")
        if client is None:
            raise RuntimeError(
                f"job {self.job_id} was not returned by a Client, so it cannot wait or "
                "cancel itself: use client.wait_for_job(job) or client.cancel_job(job_id)"
            )
        return client

    @classmethod
    def from_json(cls, data: JSONObject, client: JobCalls | None = None) -> Self:
        """The job of a service's answer; ``client`` is the one that got it."""
        job = cls(
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
            cancel_requested=bool(data.get("cancel_requested", False)),
            rate_per_second=_number(data.get("rate_per_second")),
            eta_seconds=_number(data.get("eta_seconds")),
            extra=_extra(cls, data),
        )
        return job._bind(client)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


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
