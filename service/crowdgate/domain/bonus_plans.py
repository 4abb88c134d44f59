"""Which bonuses a request asks for, each checked before anything is paid.

An item is refused with a reason code rather than dropped, so the caller sees every
item's fate: the plan (a dry run) and the payment apply the same checks, and a
payment with any refused item pays nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crowdgate.models import Bonus, Participant, Study

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
#: Dollars with at most two decimals, as the API's money strings (schemas/money.py).
MONEY_PATTERN = re.compile(r"\d+(\.\d{1,2})?\Z", re.ASCII)
CENT = Decimal("0.01")
#: Bonuses that count against the cap and the budget: paid, or on their way.
COMMITTED = (PENDING, SENDING, SENT)

#: Why an item is refused, in words for the API's documentation.
REASONS = {
    "invalid_amount": 'the amount is not a string of dollars with at most 2 decimals ("0.50")',
    "not_positive": "the amount is zero",
    "no_reason": "neither the item nor the request gives a reason (workers are told why)",
    "not_a_participant": "the worker is not a participant of the study",
    "no_assignment": "the worker has no assignment on record to pay the bonus for",
    "assignment_ambiguous": "the worker has several assignments: give assignment_id",
    "assignment_not_worker": "the assignment is not one of this worker's in the study",
    "duplicate_in_request": "the same worker, assignment and key appear earlier in the request",
    "key_conflict": "a bonus with this key exists already with another amount or reason",
    "over_worker_cap": "the worker's bonuses would exceed the study's bonus_cap_per_worker",
    "over_budget": "the study's bonuses would exceed its bonus_budget",
}
MAX_REASON = 4096


@dataclass(frozen=True)
class Item:
    """One bonus as asked for: ``amount`` is the text as given, checked later."""

    worker_id: str
    amount: Any
    reason: str
    assignment_id: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Accepted:
    index: int
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    key: str
    #: The ledger row this item already is, when it was sent before.
    existing_id: int | None = None
    existing_state: str | None = None


@dataclass(frozen=True)
class Refused:
    index: int
    worker_id: str
    assignment_id: str | None
    amount: str
    key: str | None
    code: str

    def body(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "worker_id": self.worker_id,
            "assignment_id": self.assignment_id,
            "amount": self.amount,
            "key": self.key,
            "code": self.code,
            "detail": REASONS[self.code],
        }


@dataclass
class BonusPlan:
    accepted: list[Accepted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    #: Participants left out of a from_state request because their state lacks the key.
    without_value: int = 0

    @property
    def new(self) -> list[Accepted]:
        return [a for a in self.accepted if a.existing_id is None]

    @property
    def existing(self) -> list[Accepted]:
        return [a for a in self.accepted if a.existing_id is not None]


def parse_amount(value: Any) -> Decimal | None:
    """The amount as a Decimal, or None if it is not a money string."""
    if not isinstance(value, str) or len(value) > 20 or not MONEY_PATTERN.match(value):
        return None
    amount = Decimal(value).quantize(CENT)
    return amount if amount < Decimal("10000000000") else None


def derived_key(amount: Decimal, reason: str) -> str:
    """The key of an item that names none: the same amount and reason are the same bonus."""
    digest = hashlib.sha256(f"{amount}\n{reason}".encode()).hexdigest()[:24]
    return f"auto-{digest}"


def state_items(
    session: Session, study: Study, state_key: str, reason: str
) -> tuple[list[Item], int]:
    """An item per participant whose state holds ``state_key``, for its assignment; and
    how many participants had no such value."""
    items: list[Item] = []
    without = 0
    rows = session.execute(
        select(Participant.worker_id, Participant.assignment_id, Participant.state)
        .where(Participant.study_id == study.id)
        .order_by(Participant.id)
    )
    for worker_id, assignment_id, values in rows:
        value = (values or {}).get(state_key)
        if value is None:
            without += 1
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A page's JavaScript stores numbers; read by their decimal text, 0.75 is
            # "0.75" while 0.1 + 0.2 stays refused.
            value = repr(value)
        items.append(
            Item(
                worker_id=worker_id,
                amount=value,
                reason=reason,
                # "" stands for "this participant has none", which the check refuses;
                # None would let it look up another attempt's assignment instead.
                assignment_id=assignment_id or "",
                key=f"state:{state_key}",
            )
        )
    return items, without


def _assignments(session: Session, study: Study, workers: Iterable[str]) -> dict[str, list[str]]:
    """Each participating worker's assignments on record (empty list: none yet)."""
    found: dict[str, list[str]] = {}
    wanted = sorted(set(workers))
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Participant.worker_id, Participant.assignment_id, Participant.extra_submissions)
            .where(
                Participant.study_id == study.id,
                Participant.worker_id.in_(wanted[start : start + 500]),
            )
            .order_by(Participant.id)
        )
        for worker_id, assignment_id, extra in rows:
            held = found.setdefault(worker_id, [])
            for candidate in [assignment_id, *(e.get("assignment_id") for e in extra or [])]:
                if candidate and candidate not in held:
                    held.append(candidate)
    return found


def _committed(session: Session, study: Study) -> tuple[dict[str, Decimal], Decimal]:
    """What each worker has been given (or is being given) so far, and the study's total."""
    per_worker: dict[str, Decimal] = defaultdict(Decimal)
    rows = session.execute(
        select(Bonus.worker_id, func.sum(Bonus.amount))
        .where(Bonus.study_id == study.id, Bonus.state.in_(COMMITTED))
        .group_by(Bonus.worker_id)
    )
    for worker_id, amount in rows:
        per_worker[worker_id] = Decimal(amount or 0)
    return per_worker, sum(per_worker.values(), Decimal(0))


def _ledger(
    session: Session, study: Study, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], Bonus]:
    rows: dict[tuple[str, str, str], Bonus] = {}
    workers = sorted({worker for worker, _, _ in keys})
    for start in range(0, len(workers), 500):
        for bonus in session.scalars(
            select(Bonus).where(
                Bonus.study_id == study.id, Bonus.worker_id.in_(workers[start : start + 500])
            )
        ):
            rows[(bonus.worker_id, bonus.assignment_id, bonus.key)] = bonus
    return rows


def build_plan(
    session: Session, study: Study, items: Sequence[Item], *, without_value: int = 0
) -> BonusPlan:
    """Check every item, in order: an item that would break the cap or the budget is
    refused, and the ones after it are judged with what was accepted before."""
    plan = BonusPlan(without_value=without_value)
    held = _assignments(session, study, (item.worker_id for item in items))
    given, total = _committed(session, study)
    cap, budget = study.bonus_cap_per_worker, study.bonus_budget
    checked: list[tuple[int, Item, Decimal, str, str]] = []
    seen: set[tuple[str, str, str]] = set()

    def refuse(index: int, item: Item, code: str, assignment: str | None = None) -> None:
        plan.refused.append(
            Refused(
                index=index,
                worker_id=item.worker_id,
                assignment_id=assignment if assignment is not None else item.assignment_id,
                amount=str(item.amount),
                key=item.key,
                code=code,
            )
        )

    for index, item in enumerate(items):
        amount = parse_amount(item.amount)
        if amount is None:
            refuse(index, item, "invalid_amount")
            continue
        if amount <= 0:
            refuse(index, item, "not_positive")
            continue
        reason = item.reason.strip()
        if not reason:
            refuse(index, item, "no_reason")
            continue
        if item.worker_id not in held:
            refuse(index, item, "not_a_participant")
            continue
        assignments = held[item.worker_id]
        if item.assignment_id is None:
            if not assignments:
                refuse(index, item, "no_assignment")
                continue
            if len(assignments) > 1:
                refuse(index, item, "assignment_ambiguous")
                continue
            assignment = assignments[0]
        elif item.assignment_id == "":
            refuse(index, item, "no_assignment")
            continue
        elif item.assignment_id not in assignments:
            refuse(index, item, "assignment_not_worker")
            continue
        else:
            assignment = item.assignment_id
        key = item.key or derived_key(amount, reason)
        identity = (item.worker_id, assignment, key)
        if identity in seen:
            refuse(index, item, "duplicate_in_request", assignment)
            continue
        seen.add(identity)
        checked.append((index, item, amount, assignment, key))

    ledger = _ledger(session, study, [(item.worker_id, a, k) for _, item, _, a, k in checked])
    for index, item, amount, assignment, key in checked:
        row = ledger.get((item.worker_id, assignment, key))
        reason = item.reason.strip()
        if row is not None:
            if Decimal(row.amount) != amount or row.reason != reason:
                refuse(index, item, "key_conflict", assignment)
                continue
            plan.accepted.append(
                Accepted(index, item.worker_id, assignment, amount, reason, key, row.id, row.state)
            )
            continue
        if cap is not None and given[item.worker_id] + amount > cap:
            refuse(index, item, "over_worker_cap", assignment)
            continue
        if budget is not None and total + amount > budget:
            refuse(index, item, "over_budget", assignment)
            continue
        given[item.worker_id] += amount
        total += amount
        plan.accepted.append(Accepted(index, item.worker_id, assignment, amount, reason, key))
    plan.refused.sort(key=lambda r: r.index)
    return plan


def plan_body(
    plan: BonusPlan,
    *,
    fee_of: Callable[[Decimal], Decimal],
    balance: Decimal | None,
    currency: str,
) -> dict[str, Any]:
    """The dry run's answer: what would be paid, what it costs, and what was refused.

    ``fee_of`` is the platform's fee for one bonus of an amount.
    """
    new = plan.new
    total = sum((a.amount for a in new), Decimal(0))
    fee = sum((fee_of(a.amount) for a in new), Decimal(0))
    cost = total + fee
    return {
        "count": len(new),
        "total": total.quantize(CENT),
        "fee": fee.quantize(CENT),
        "cost": cost.quantize(CENT),
        "currency": currency,
        "balance": balance,
        "sufficient": balance is None or balance >= cost,
        "existing": len(plan.existing),
        "without_value": plan.without_value,
        "refused": [r.body() for r in plan.refused],
        "items": [
            {
                "index": a.index,
                "worker_id": a.worker_id,
                "assignment_id": a.assignment_id,
                "amount": a.amount,
                "reason": a.reason,
                "key": a.key,
                "existing_state": a.existing_state,
            }
            for a in plan.accepted
        ],
    }
