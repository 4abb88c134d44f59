"""What the Prolific emulator remembers: studies, submissions, bonuses, groups, hooks, money.

Money is kept in minor units (pence/cents) the way Prolific's responses carry it:
rewards and bonus amounts are whole numbers, fees and the balance may have fractions
of a penny (Prolific's fees are a third of the amount), so they are Decimals. Times
are epoch seconds; the API shows them as ISO 8601.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from crowdgate.testing.state_files import plain, revive, write_atomically

#: Statuses a submission can have (note the space and the hyphen).
SUBMISSION_STATUSES = (
    "RESERVED",
    "ACTIVE",
    "TIMED-OUT",
    "AWAITING REVIEW",
    "APPROVED",
    "RETURNED",
    "REJECTED",
    "SCREENED OUT",
    "PARTIALLY APPROVED",
)
#: Statuses of a finished submission (it has a completion time and a code).
COMPLETE_STATUSES = ("AWAITING REVIEW", "APPROVED", "REJECTED", "PARTIALLY APPROVED")


@dataclass
class Study:
    id: str
    name: str
    status: str
    currency_code: str
    reward: int
    external_study_url: str
    completion_codes: list[dict[str, Any]]
    total_available_places: int
    filters: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0


@dataclass
class Submission:
    id: str
    study_id: str
    participant_id: str
    status: str
    started_at: float
    completed_at: float | None = None
    study_code: str | None = None
    reward: int = 0
    #: Bonuses paid on it, in minor units, one entry per payment.
    bonus_payments: list[int] = field(default_factory=list)
    return_requested: float | None = None
    rejection_message: str | None = None
    rejection_category: str | None = None
    #: How many times it went to APPROVED: 1 at most unless a test finds a bug.
    times_approved: int = 0
    seq: int = 0


@dataclass
class BulkBonus:
    id: str
    study_id: str
    #: (participant id, submission id, amount in minor units), one per CSV line.
    lines: list[list[Any]]
    amount: int
    fees: Decimal
    vat: Decimal
    created_at: float
    #: How many times it was paid: more than 1 is what crowdgate must never cause.
    times_paid: int = 0


@dataclass
class BonusPayment:
    """One participant's share of one pay call."""

    bulk_bonus_id: str
    study_id: str
    participant_id: str
    submission_id: str
    amount: int
    fees: Decimal
    paid_at: float


@dataclass
class Message:
    recipient_id: str
    study_id: str
    body: str
    sent_at: float
    bulk: bool = False


@dataclass
class Group:
    id: str
    name: str
    workspace_id: str
    description: str
    #: Participant id -> when it joined (epoch seconds), in joining order.
    members: dict[str, float] = field(default_factory=dict)
    is_deleted: bool = False
    seq: int = 0


@dataclass
class Subscription:
    id: str
    workspace_id: str
    event_type: str
    target_url: str
    is_enabled: bool = True
    seq: int = 0


_TABLES: dict[str, type] = {
    "studies": Study,
    "submissions": Submission,
    "bulk_bonuses": BulkBonus,
    "groups": Group,
    "subscriptions": Subscription,
}


@dataclass
class ProlificState:
    """Everything one emulated researcher workspace holds. Guard changes with ``lock``."""

    user_id: str
    workspace_id: str
    email: str = "researcher@example.org"
    currency_code: str = "GBP"
    balance: Decimal = Decimal("1000000")
    studies: dict[str, Study] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)
    #: Participants Prolific knows (messages to anyone else are refused).
    participants: set[str] = field(default_factory=set)
    bulk_bonuses: dict[str, BulkBonus] = field(default_factory=dict)
    payments: list[BonusPayment] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    #: Workspace id -> its one active secret (id, value).
    secrets: dict[str, list[str]] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    next_seq: int = 1
    next_id: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def seq(self) -> int:
        value = self.next_seq
        self.next_seq += 1
        return value

    def submissions_of(self, study_id: str) -> list[Submission]:
        rows = [s for s in self.submissions.values() if s.study_id == study_id]
        return sorted(rows, key=lambda s: s.seq)

    def add_submission(self, submission: Submission) -> None:
        self.submissions[submission.id] = submission
        self.participants.add(submission.participant_id)

    # -- persistence -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user_id": self.user_id,
            "workspace_id": self.workspace_id,
            "email": self.email,
            "currency_code": self.currency_code,
            "balance": str(self.balance),
            "participants": sorted(self.participants),
            "payments": [plain(p) for p in self.payments],
            "messages": [plain(m) for m in self.messages],
            "secrets": dict(self.secrets),
            "next_seq": self.next_seq,
            "next_id": self.next_id,
        }
        for name in _TABLES:
            data[name] = [plain(row) for row in getattr(self, name).values()]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProlificState:
        state = cls(
            user_id=data["user_id"],
            workspace_id=data["workspace_id"],
            email=data["email"],
            currency_code=data["currency_code"],
            balance=Decimal(data["balance"]),
            next_seq=int(data["next_seq"]),
            next_id=int(data["next_id"]),
        )
        state.participants = set(data["participants"])
        state.payments = [revive(BonusPayment, row) for row in data["payments"]]
        state.messages = [revive(Message, row) for row in data["messages"]]
        state.secrets = {k: list(v) for k, v in data["secrets"].items()}
        for name, kind in _TABLES.items():
            setattr(state, name, {row["id"]: revive(kind, row) for row in data[name]})
        return state

    def save(self, path: Path) -> None:
        with self.lock:
            payload = json.dumps(self.to_json())
        write_atomically(path, payload)

    @classmethod
    def load(cls, path: Path) -> ProlificState:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
