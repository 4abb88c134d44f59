"""Answers of the bonus operations: the plan a dry run shows and the ledger's rows.

Money is ``Decimal``, never a float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from crowdgate_client.models import JSONObject, _extra, _optional_datetime
from crowdgate_client.platform_models import _money


@dataclass(frozen=True, kw_only=True)
class RefusedBonus:
    """An item the service would not pay, and why (``code``)."""

    index: int
    worker_id: str
    code: str
    detail: str = ""
    amount: str | None = None
    assignment_id: str | None = None
    key: str | None = None
    #: The item's line in an uploaded CSV file (None for items sent as a list).
    line: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            index=data["index"],
            worker_id=data["worker_id"],
            code=data["code"],
            detail=data.get("detail", "") or "",
            amount=data.get("amount"),
            assignment_id=data.get("assignment_id"),
            key=data.get("key"),
            line=data.get("line"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class PlannedBonus:
    """A bonus the plan would pay (or, with ``existing_state``, one in the ledger already)."""

    index: int
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    key: str
    existing_state: str | None = None
    #: The item's line in an uploaded CSV file (None for items sent as a list).
    line: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            index=data["index"],
            worker_id=data["worker_id"],
            assignment_id=data.get("assignment_id", "") or "",
            amount=Decimal(str(data["amount"])),
            reason=data.get("reason", "") or "",
            key=data["key"],
            existing_state=data.get("existing_state"),
            line=data.get("line"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class BonusPlan:
    """What paying would do: how many, the total, the platform's fee, the balance."""

    study: str
    count: int
    total: Decimal
    fee: Decimal
    cost: Decimal
    currency: str
    balance: Decimal | None
    sufficient: bool
    existing: int = 0
    without_value: int = 0
    refused: tuple[RefusedBonus, ...] = ()
    items: tuple[PlannedBonus, ...] = ()
    dry_run: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            study=data["study"],
            count=data["count"],
            total=Decimal(str(data["total"])),
            fee=Decimal(str(data["fee"])),
            cost=Decimal(str(data["cost"])),
            currency=data["currency"],
            balance=_money(data.get("balance")),
            sufficient=bool(data.get("sufficient")),
            existing=data.get("existing", 0) or 0,
            without_value=data.get("without_value", 0) or 0,
            refused=tuple(RefusedBonus.from_json(r) for r in data.get("refused") or ()),
            items=tuple(PlannedBonus.from_json(i) for i in data.get("items") or ()),
            dry_run=data.get("dry_run", True),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Bonus:
    """One row of a study's bonus ledger."""

    id: int
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    key: str
    state: str  # pending, sending, sent or failed
    attempts: int = 0
    last_error: str | None = None
    job_id: str | None = None
    created_at: datetime | None = None
    sent_at: datetime | None = None
    platform_response: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            id=data["id"],
            worker_id=data["worker_id"],
            assignment_id=data.get("assignment_id", "") or "",
            amount=Decimal(str(data["amount"])),
            reason=data.get("reason", "") or "",
            key=data["key"],
            state=data["state"],
            attempts=data.get("attempts", 0) or 0,
            last_error=data.get("last_error"),
            job_id=data.get("job_id"),
            created_at=_optional_datetime(data.get("created_at")),
            sent_at=_optional_datetime(data.get("sent_at")),
            platform_response=dict(data.get("platform_response") or {}),
            extra=_extra(cls, data),
        )
