"""What platforms answer, in crowdgate's vocabulary (see DESIGN.md's table).

A "posting" is what a study is published as: an MTurk HIT, a Prolific study. Amounts
are Decimals in the platform's currency (USD on MTurk), never floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

#: Submission statuses, whatever the platform calls them.
SUBMITTED = "submitted"
APPROVED = "approved"
REJECTED = "rejected"
RETURNED = "returned"
TIMED_OUT = "timed_out"
SUBMISSION_STATUSES: tuple[str, ...] = (SUBMITTED, APPROVED, REJECTED, RETURNED, TIMED_OUT)


@dataclass(frozen=True)
class Submission:
    """One worker's submission on one posting (an MTurk assignment)."""

    assignment_id: str
    worker_id: str
    posting_id: str
    status: str  # one of the statuses above
    platform_status: str  # the platform's own word, e.g. "Submitted"
    accepted_at: datetime | None = None
    submitted_at: datetime | None = None
    reviewed_at: datetime | None = None
    #: The worker's answers by field name (MTurk: parsed from QuestionFormAnswers XML).
    answers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BonusPayment:
    worker_id: str
    assignment_id: str | None
    amount: Decimal
    reason: str
    paid_at: datetime | None = None


@dataclass(frozen=True)
class BonusLine:
    """One bonus of a batch set up to be paid together (see PlatformClient.bonus_payment)."""

    worker_id: str
    assignment_id: str
    amount: Decimal


@dataclass(frozen=True)
class BonusBatch:
    """A batch of bonuses the platform has set up but not paid: ``id`` pays it."""

    id: str
    amount: Decimal
    fees: Decimal


#: How a NotifyResult's problem starts when nothing was sent to that worker (so the
#: message may be sent to them again).
NOT_SENT = "Not sent:"


@dataclass(frozen=True)
class NotifyResult:
    """What happened to one worker of a message: ``ok``, or the platform's reason."""

    worker_id: str
    ok: bool
    problem: str = ""
    platform_code: str = ""


def failed_call(
    outcome: dict[str, NotifyResult],
    chunk: Sequence[str],
    workers: Sequence[str],
    *,
    problem: str,
    platform_code: str,
    message: str,
) -> None:
    """Record a message call that failed after others went out: its ``chunk`` gets
    ``problem``; the workers of the chunks not yet sent were not sent it."""
    for worker in chunk:
        outcome[worker] = NotifyResult(
            worker, ok=False, problem=problem, platform_code=platform_code
        )
    for worker in workers:
        outcome.setdefault(
            worker,
            NotifyResult(
                worker,
                ok=False,
                problem=f"{NOT_SENT} an earlier call failed ({message})",
                platform_code=platform_code,
            ),
        )


@dataclass(frozen=True)
class QualificationType:
    id: str
    name: str
    description: str = ""
    status: str = "active"


@dataclass(frozen=True)
class QualificationGrant:
    worker_id: str
    value: int
    granted_at: datetime | None = None


@dataclass(frozen=True)
class Requirement:
    """Who may take a posting. ``comparator`` uses MTurk's words (the broadest set)."""

    qualification_type_id: str
    comparator: str  # LessThan, GreaterThanOrEqualTo, EqualTo, In, NotIn, Exists, DoesNotExist...
    integer_values: tuple[int, ...] = ()
    locale_values: tuple[Mapping[str, str], ...] = ()
    #: What the requirement guards (MTurk: Accept, PreviewAndAccept,
    #: DiscoverPreviewAndAccept); None leaves the platform's default.
    actions_guarded: str | None = None


@dataclass(frozen=True)
class PostingRequest:
    title: str
    description: str
    reward: Decimal
    assignments: int
    lifetime_seconds: int
    assignment_duration_seconds: int
    auto_approval_delay_seconds: int
    #: The survey's URL, shown to workers in a frame (MTurk ExternalQuestion).
    external_url: str
    frame_height: int = 0
    keywords: str = ""
    requirements: tuple[Requirement, ...] = ()
    #: Sent as the platform's idempotency token where it has one (MTurk UniqueRequestToken).
    unique_token: str | None = None
    annotation: str = ""


@dataclass(frozen=True)
class Posting:
    id: str
    title: str
    status: str
    reward: Decimal
    assignments: int
    available: int
    pending: int
    completed: int
    created_at: datetime | None = None
    expires_at: datetime | None = None
    type_id: str = ""
    #: The codes the platform gives participants who completed it (Prolific's study
    #: completion codes of type COMPLETED), first the one to use.
    completion_codes: tuple[str, ...] = ()
