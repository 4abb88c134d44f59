"""Prolific's answers as crowdgate's records (see records.py), in UTC and crowdgate's words.

Money on Prolific is in minor units (pence, cents) everywhere it answers; records
carry major units as Decimals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crowdgate.platforms.records import (
    APPROVED,
    REJECTED,
    RETURNED,
    SUBMITTED,
    TIMED_OUT,
    BonusPayment,
    Posting,
    QualificationGrant,
    QualificationType,
    Submission,
)

HUNDRED = Decimal(100)
#: The answer field the completion code a participant entered is kept under.
CODE_FIELD = "study_code"

#: Prolific's submission statuses in crowdgate's words.
SUBMISSION_STATUSES: Mapping[str, str] = {
    "AWAITING REVIEW": SUBMITTED,
    "APPROVED": APPROVED,
    # Paid part of the reward after review: reviewed, and not to be reviewed again.
    "PARTIALLY APPROVED": APPROVED,
    "REJECTED": REJECTED,
    "RETURNED": RETURNED,
    "TIMED-OUT": TIMED_OUT,
    # Let go by the study's screener before doing the work: nothing was handed in.
    "SCREENED OUT": RETURNED,
}
#: A place held or a study under way: like an MTurk assignment not yet submitted, which
#: MTurk does not list, these are not submissions yet.
IN_PROGRESS = frozenset({"ACTIVE", "RESERVED"})
#: crowdgate's statuses of work handed in.
HANDED_IN = (SUBMITTED, APPROVED, REJECTED)


def status_word(status: Any) -> str:
    """Prolific's status as its documentation spells it ("AWAITING_REVIEW" and
    "awaiting review" both give "AWAITING REVIEW"; "TIMED_OUT" gives "TIMED-OUT")."""
    word = " ".join(str(status or "").strip().upper().replace("_", " ").split())
    return "TIMED-OUT" if word in ("TIMED OUT", "TIMED-OUT") else word


def moment(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Prolific's times are UTC; one without a zone is taken as such.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def major_units(minor: Any) -> Decimal:
    try:
        return Decimal(str(minor or 0)) / HUNDRED
    except InvalidOperation:
        return Decimal(0)


def bonus_payments(item: Mapping[str, Any]) -> Iterator[BonusPayment]:
    """The bonuses paid on a submission (``bonus_payments``: minor units, no reasons)."""
    worker = str(item.get("participant_id") or item.get("participant") or "")
    for amount in item.get("bonus_payments") or ():
        yield BonusPayment(
            worker_id=worker,
            assignment_id=str(item.get("id") or "") or None,
            amount=major_units(amount),
            reason="",
        )


def submission(item: Mapping[str, Any], study_id: str) -> Submission | None:
    """The submission, or None while it is still in progress (not handed in yet).

    The study's list says ``participant_id`` and ``study_code``; one submission read
    alone says ``participant`` and ``entered_code``: both are read.
    """
    word = status_word(item.get("status"))
    if word in IN_PROGRESS:
        return None
    code = item.get("study_code") or item.get("entered_code")
    return Submission(
        assignment_id=str(item["id"]),
        worker_id=str(item.get("participant_id") or item.get("participant") or ""),
        posting_id=str(item.get("study_id") or item.get("study") or study_id),
        # An unknown status (Prolific's short-lived PROCESSING) passes through as a word
        # sync and review leave alone.
        status=SUBMISSION_STATUSES.get(word, word.lower().replace(" ", "_").replace("-", "_")),
        platform_status=word,
        accepted_at=moment(item.get("started_at")),
        submitted_at=moment(item.get("completed_at")),
        reviewed_at=moment(item.get("reviewed_at")),
        answers={CODE_FIELD: str(code)} if code else {},
    )


def group(found: Mapping[str, Any]) -> QualificationType:
    return QualificationType(
        id=str(found["id"]),
        name=str(found.get("name") or ""),
        description=str(found.get("description") or ""),
        status="deleted" if found.get("is_deleted") else "active",
    )


def member(found: Mapping[str, Any]) -> QualificationGrant:
    return QualificationGrant(
        worker_id=str(found.get("participant_id") or found.get("id") or ""),
        value=1,
        granted_at=moment(found.get("datetime_created")),
    )


def posting(study: Mapping[str, Any], counts: Mapping[str, Any] | None = None) -> Posting:
    """The study as a posting; ``counts`` (GET .../submissions/counts/) tells the places
    under way and handed in, which the study itself does not."""
    places = int(study.get("total_available_places") or 0)
    taken = int(study.get("places_taken") or 0)
    tally = {status_word(k): v for k, v in (counts or {}).items() if isinstance(v, int)}
    pending = sum(tally.get(word, 0) for word in IN_PROGRESS)
    completed = sum(
        tally.get(word, 0) for word, ours in SUBMISSION_STATUSES.items() if ours in HANDED_IN
    )
    return Posting(
        id=str(study["id"]),
        title=str(study.get("name") or study.get("internal_name") or ""),
        status=status_word(study.get("status")).lower(),
        reward=major_units(study.get("reward")),
        assignments=places,
        available=max(0, places - taken),
        pending=pending,
        completed=completed,
        created_at=moment(study.get("date_created")),
        expires_at=None,
        completion_codes=completion_codes(study),
    )


def completion_codes(study: Mapping[str, Any]) -> tuple[str, ...]:
    """The study's codes for a completed submission (``code_type`` COMPLETED; other
    types, such as a failed attention check, do not mean the study was done)."""
    found = []
    for entry in study.get("completion_codes") or ():
        if (
            isinstance(entry, Mapping)
            and entry.get("code")
            and (str(entry.get("code_type") or "COMPLETED").upper() == "COMPLETED")
        ):
            found.append(str(entry["code"]))
    return tuple(found)
