"""MTurk's answers as crowdgate's records (see records.py), in UTC and crowdgate's words."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from crowdgate.platforms.mturk_xml import parse_answers
from crowdgate.platforms.records import (
    APPROVED,
    REJECTED,
    SUBMITTED,
    Posting,
    QualificationType,
    Submission,
)

#: MTurk's assignment statuses in crowdgate's words.
ASSIGNMENT_STATUSES: Mapping[str, str] = {
    "Submitted": SUBMITTED,
    "Approved": APPROVED,
    "Rejected": REJECTED,
}


def utc(moment: datetime | None) -> datetime | None:
    # botocore gives MTurk's timestamps in the machine's local zone; the record keeps UTC.
    return moment.astimezone(UTC) if moment is not None else None


def submission(assignment: Mapping[str, Any], hit_id: str) -> Submission:
    status = str(assignment.get("AssignmentStatus", ""))
    return Submission(
        assignment_id=assignment["AssignmentId"],
        worker_id=assignment["WorkerId"],
        posting_id=assignment.get("HITId", hit_id),
        status=ASSIGNMENT_STATUSES.get(status, status.lower()),
        platform_status=status,
        accepted_at=utc(assignment.get("AcceptTime")),
        submitted_at=utc(assignment.get("SubmitTime")),
        reviewed_at=utc(assignment.get("ApprovalTime") or assignment.get("RejectionTime")),
        answers=parse_answers(assignment.get("Answer")),
    )


def qualification_type(found: Mapping[str, Any]) -> QualificationType:
    return QualificationType(
        id=found["QualificationTypeId"],
        name=found.get("Name", ""),
        description=found.get("Description", ""),
        status=str(found.get("QualificationTypeStatus", "Active")).lower(),
    )


def posting(hit: Mapping[str, Any]) -> Posting:
    return Posting(
        id=hit["HITId"],
        title=hit.get("Title", ""),
        status=str(hit.get("HITStatus", "")).lower(),
        reward=Decimal(hit.get("Reward", "0")),
        assignments=int(hit.get("MaxAssignments", 0)),
        available=int(hit.get("NumberOfAssignmentsAvailable", 0)),
        pending=int(hit.get("NumberOfAssignmentsPending", 0)),
        completed=int(hit.get("NumberOfAssignmentsCompleted", 0)),
        created_at=utc(hit.get("CreationTime")),
        expires_at=utc(hit.get("Expiration")),
        type_id=hit.get("HITTypeId", ""),
    )
