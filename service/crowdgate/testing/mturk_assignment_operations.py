"""Assignment operations: ListAssignmentsForHIT, GetAssignment, ApproveAssignment,
RejectAssignment."""

from __future__ import annotations

from typing import Any

from crowdgate.testing.mturk_account import Account, fee, posting_fee_rate
from crowdgate.testing.mturk_hit_operations import find_hit, hit_shape
from crowdgate.testing.mturk_requests import MTurkError, Params, bad, page
from crowdgate.testing.mturk_state import Assignment

ASSIGNMENT_STATUSES = ("Submitted", "Approved", "Rejected")


def assignment_shape(assignment: Assignment) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "AssignmentId": assignment.assignment_id,
        "WorkerId": assignment.worker_id,
        "HITId": assignment.hit_id,
        "AssignmentStatus": assignment.status,
        "AutoApprovalTime": assignment.auto_approval_at,
        "AcceptTime": assignment.accepted_at,
        "SubmitTime": assignment.submitted_at,
        "Deadline": assignment.deadline,
        "Answer": assignment.answer,
    }
    if assignment.approved_at is not None:
        shape["ApprovalTime"] = assignment.approved_at
    if assignment.rejected_at is not None:
        shape["RejectionTime"] = assignment.rejected_at
    if assignment.feedback is not None:
        shape["RequesterFeedback"] = assignment.feedback
    return shape


def find_assignment(account: Account, assignment_id: str) -> Assignment:
    assignment = account.state.assignments.get(assignment_id)
    if assignment is None:
        raise MTurkError(
            f"Assignment {assignment_id} does not exist.",
            "AWS.MechanicalTurk.AssignmentDoesNotExist",
        )
    return assignment


def list_assignments_for_hit(account: Account, params: Params) -> dict[str, Any]:
    hit = find_hit(account, params.entity_id("HITId") or "")
    statuses = params.raw("AssignmentStatuses")
    rows = account.state.assignments_of(hit.hit_id)
    if statuses is not None:
        if not isinstance(statuses, list) or any(s not in ASSIGNMENT_STATUSES for s in statuses):
            raise bad(f"AssignmentStatuses must be a list of {', '.join(ASSIGNMENT_STATUSES)}")
        rows = [a for a in rows if a.status in statuses]
    chosen, extra = page(params, rows, lambda a: a.seq)
    return {"Assignments": [assignment_shape(a) for a in chosen], **extra}


def get_assignment(account: Account, params: Params) -> dict[str, Any]:
    assignment = find_assignment(account, params.entity_id("AssignmentId") or "")
    hit = find_hit(account, assignment.hit_id)
    return {"Assignment": assignment_shape(assignment), "HIT": hit_shape(account, hit)}


def _wrong_state(assignment: Assignment, allowed: str) -> MTurkError:
    return MTurkError(
        f"This operation can be called with a status of: {allowed} "
        f"(assignment {assignment.assignment_id} is {assignment.status})",
        "AWS.MechanicalTurk.InvalidAssignmentState",
    )


def approve_assignment(account: Account, params: Params) -> dict[str, Any]:
    assignment = find_assignment(account, params.entity_id("AssignmentId") or "")
    feedback = params.string("RequesterFeedback", max_length=1024)
    override = params.boolean("OverrideRejection")
    if assignment.status == "Approved":
        # Approving twice is harmless on MTurk: the worker is paid once.
        return {}
    if assignment.status == "Rejected" and not override:
        raise _wrong_state(assignment, "Submitted (or Rejected with OverrideRejection)")
    if assignment.status == "Rejected":
        # Overturning a rejection pays the reward that the rejection withheld.
        hit = account.state.hits.get(assignment.hit_id)
        if hit is not None and hit.prepaid:
            account.charge(hit.reward + fee(hit.reward, posting_fee_rate(hit.max_assignments)))
    assignment.status = "Approved"
    assignment.approved_at = account.now()
    assignment.rejected_at = None
    assignment.times_approved += 1
    if feedback is not None:
        assignment.feedback = feedback
    return {}


def reject_assignment(account: Account, params: Params) -> dict[str, Any]:
    assignment = find_assignment(account, params.entity_id("AssignmentId") or "")
    feedback = params.text("RequesterFeedback", max_length=1024)
    if assignment.status != "Submitted":
        raise _wrong_state(assignment, "Submitted")
    assignment.status = "Rejected"
    assignment.rejected_at = account.now()
    assignment.feedback = feedback
    hit = account.state.hits.get(assignment.hit_id)
    if hit is not None and hit.prepaid:
        # The reward was paid in when the HIT was created; a rejection returns it.
        account.state.balance += hit.reward + fee(hit.reward, posting_fee_rate(hit.max_assignments))
    return {}
