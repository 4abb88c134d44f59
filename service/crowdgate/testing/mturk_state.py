"""What the MTurk emulator remembers: HITs, assignments, workers, qualifications, money.

Amounts are Decimals and times are epoch seconds (floats), the way MTurk's JSON
protocol carries them. Every record keeps a sequence number so that list pages
follow insertion order and a page token stays valid while new records arrive.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from crowdgate.testing.state_files import plain, revive, write_atomically

#: Qualification types MTurk itself owns: requirements may name them, nobody owns them.
SYSTEM_QUALIFICATIONS: dict[str, str] = {
    "000000000000000000L0": "Worker_PercentAssignmentsApproved",
    "00000000000000000040": "Worker_NumberHITsApproved",
    "00000000000000000071": "Worker_Locale",
    "00000000000000000060": "Worker_Adult",
    "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH": "Masters (sandbox)",
    "2NDP2L92HECWY8NS8H3CK0CP5L9GHO": "Masters",
}


@dataclass
class HIT:
    hit_id: str
    hit_type_id: str
    title: str
    description: str
    keywords: str
    question: str
    reward: Decimal
    max_assignments: int
    assignment_duration: int
    auto_approval_delay: int
    created_at: float
    expires_at: float
    annotation: str = ""
    qualification_requirements: list[dict[str, Any]] = field(default_factory=list)
    #: Whether CreateHIT took the rewards and fees from the balance (seeded HITs did not).
    prepaid: bool = True
    seq: int = 0


@dataclass
class HITType:
    hit_type_id: str
    title: str
    description: str
    keywords: str
    reward: Decimal
    assignment_duration: int
    auto_approval_delay: int
    qualification_requirements: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Assignment:
    assignment_id: str
    hit_id: str
    worker_id: str
    status: str  # Submitted, Approved or Rejected
    answer: str  # QuestionFormAnswers XML
    accepted_at: float
    submitted_at: float
    auto_approval_at: float
    deadline: float
    approved_at: float | None = None
    rejected_at: float | None = None
    feedback: str | None = None
    #: How many times the assignment went to Approved: 1 at most unless a test finds a bug.
    times_approved: int = 0
    seq: int = 0


@dataclass
class QualificationType:
    qualification_type_id: str
    name: str
    description: str
    keywords: str
    status: str
    created_at: float
    auto_granted: bool = False
    auto_granted_value: int = 1
    seq: int = 0


@dataclass
class Grant:
    qualification_type_id: str
    worker_id: str
    value: int
    granted_at: float
    status: str = "Granted"  # or "Revoked"
    notified: bool = False
    seq: int = 0


@dataclass
class Bonus:
    worker_id: str
    assignment_id: str
    hit_id: str
    amount: Decimal
    fee: Decimal
    reason: str
    granted_at: float
    token: str | None = None
    seq: int = 0


@dataclass
class Message:
    """A message MTurk e-mailed a worker: NotifyWorkers, or a qualification change."""

    worker_id: str
    kind: str  # "notification", "qualification_granted" or "qualification_revoked"
    subject: str
    text: str
    sent_at: float


_TABLES: dict[str, type] = {
    "hits": HIT,
    "hit_types": HITType,
    "assignments": Assignment,
    "qualification_types": QualificationType,
    "bonuses": Bonus,
}


@dataclass
class EmulatorState:
    """Everything one emulated requester account holds. Guard changes with ``lock``."""

    balance: Decimal = Decimal("10000.00")
    hits: dict[str, HIT] = field(default_factory=dict)
    hit_types: dict[str, HITType] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    workers: set[str] = field(default_factory=set)
    qualification_types: dict[str, QualificationType] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    bonuses: dict[int, Bonus] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    #: Worker -> the NotifyWorkersFailureCode ("SoftFailure", "HardFailure") their
    #: messages fail with, as when MTurk cannot reach them or they blocked the requester.
    notify_failures: dict[str, str] = field(default_factory=dict)
    #: UniqueRequestToken -> (what it created, when), per operation.
    tokens: dict[str, dict[str, tuple[str, float]]] = field(default_factory=dict)
    next_seq: int = 1
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    #: Assignments by HIT, in arrival order (derived, so not saved).
    by_hit: dict[str, list[Assignment]] = field(default_factory=dict, repr=False, compare=False)

    def seq(self) -> int:
        value = self.next_seq
        self.next_seq += 1
        return value

    def assignments_of(self, hit_id: str) -> list[Assignment]:
        return self.by_hit.get(hit_id, [])

    def add_assignment(self, assignment: Assignment) -> None:
        self.assignments[assignment.assignment_id] = assignment
        self.by_hit.setdefault(assignment.hit_id, []).append(assignment)
        self.workers.add(assignment.worker_id)

    # -- persistence -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "balance": str(self.balance),
            "workers": sorted(self.workers),
            "grants": [plain(g) for g in self.grants.values()],
            "messages": [plain(m) for m in self.messages],
            "notify_failures": dict(self.notify_failures),
            "tokens": {
                op: {t: list(v) for t, v in seen.items()} for op, seen in self.tokens.items()
            },
            "next_seq": self.next_seq,
        }
        for name in _TABLES:
            data[name] = [plain(row) for row in getattr(self, name).values()]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmulatorState:
        state = cls(balance=Decimal(data["balance"]), next_seq=int(data["next_seq"]))
        state.workers = set(data["workers"])
        for row in data["grants"]:
            grant = revive(Grant, row)
            state.grants[(grant.qualification_type_id, grant.worker_id)] = grant
        state.messages = [revive(Message, row) for row in data["messages"]]
        state.notify_failures = dict(data.get("notify_failures", {}))
        state.tokens = {
            op: {t: (v[0], float(v[1])) for t, v in seen.items()}
            for op, seen in data["tokens"].items()
        }
        state.hits = {r["hit_id"]: revive(HIT, r) for r in data["hits"]}
        state.hit_types = {r["hit_type_id"]: revive(HITType, r) for r in data["hit_types"]}
        for row in sorted(data["assignments"], key=lambda r: r["seq"]):
            state.add_assignment(revive(Assignment, row))
        state.qualification_types = {
            r["qualification_type_id"]: revive(QualificationType, r)
            for r in data["qualification_types"]
        }
        state.bonuses = {r["seq"]: revive(Bonus, r) for r in data["bonuses"]}
        return state

    def save(self, path: Path) -> None:
        with self.lock:
            payload = json.dumps(self.to_json())
        write_atomically(path, payload)

    @classmethod
    def load(cls, path: Path) -> EmulatorState:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
