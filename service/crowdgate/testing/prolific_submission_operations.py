"""The account, study and submission endpoints: reading them, approving and rejecting.

Each handler takes the emulator and the ``Request`` and returns ``(status, payload)``;
it runs under the state's lock and raises ``ProlificError`` for any refusal, before
changing anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crowdgate.testing.prolific_requests import ProlificError, Request, iso, number, paginate
from crowdgate.testing.prolific_state import COMPLETE_STATUSES, Study, Submission

if TYPE_CHECKING:
    from crowdgate.testing.prolific_emulator import ProlificEmulator

REJECTION_CATEGORIES = (
    "BAD_CODE",
    "FAILED_CHECK",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "NO_DATA",
    "OTHER",
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "UNSUPP_DEVICE",
)
MIN_REJECTION_MESSAGE = 100
_TARGETS = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}


def study_of(emu: ProlificEmulator, study_id: str) -> Study:
    study = emu.state.studies.get(study_id)
    if study is None:
        raise ProlificError(404, f"Study {study_id} not found.")
    return study


def submission_of(emu: ProlificEmulator, submission_id: str) -> Submission:
    submission = emu.state.submissions.get(submission_id)
    if submission is None:
        raise ProlificError(404, f"Submission {submission_id} not found.")
    return submission


def get_me(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    state = emu.state
    return 200, {
        "id": state.user_id,
        "email": state.email,
        "first_name": "Emulated",
        "last_name": "Researcher",
        "name": "Emulated Researcher",
        "username": state.email,
        "user_type": "researcher",
        "currency_code": state.currency_code,
        "balance": number(state.balance),
        "available_balance": number(state.balance),
        "current_workspace_id": state.workspace_id,
    }


def get_balance(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    state = emu.state
    if request.args["id"] != state.workspace_id:
        raise ProlificError(404, f"Workspace {request.args['id']} not found.")
    balance = number(state.balance)
    return 200, {
        "currency_code": state.currency_code,
        "total_balance": balance,
        "balance_breakdown": {"rewards": balance, "fees": 0, "vat": 0},
        "available_balance": balance,
        "available_balance_breakdown": {"rewards": balance, "fees": 0, "vat": 0},
    }


def get_study(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    study = study_of(emu, request.args["id"])
    return 200, {
        "id": study.id,
        "name": study.name,
        "internal_name": study.name,
        "status": study.status,
        "currency_code": study.currency_code,
        "reward": study.reward,
        "external_study_url": study.external_study_url,
        "completion_codes": study.completion_codes,
        "total_available_places": study.total_available_places,
        "places_taken": len(emu.state.submissions_of(study.id)),
        "filters": study.filters,
    }


def list_item(submission: Submission) -> dict[str, Any]:
    """A submission as the study's submission list shows it (``participant_id``,
    ``study_code``), unlike the detail view."""
    taken = None
    if submission.completed_at is not None:
        taken = int(submission.completed_at - submission.started_at)
    return {
        "id": submission.id,
        "participant_id": submission.participant_id,
        "status": submission.status,
        "started_at": iso(submission.started_at),
        "completed_at": iso(submission.completed_at),
        "is_complete": submission.status in COMPLETE_STATUSES,
        "time_taken": taken,
        "reward": submission.reward,
        "study_code": submission.study_code,
        "star_awarded": False,
        "bonus_payments": list(submission.bonus_payments),
        "strata": {},
    }


def detail(submission: Submission) -> dict[str, Any]:
    return {
        "id": submission.id,
        "study_id": submission.study_id,
        "parent_study_id": None,
        "participant": submission.participant_id,
        "status": submission.status,
        "started_at": iso(submission.started_at),
        "completed_at": iso(submission.completed_at),
        "entered_code": submission.study_code,
        "bonus_payments": list(submission.bonus_payments),
        "return_requested": iso(submission.return_requested),
    }


def _status_filter(request: Request) -> str | None:
    raw = request.query.get("status")
    return raw.upper().replace("_", " ").replace("TIMED OUT", "TIMED-OUT") if raw else None


def list_study_submissions(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    study = study_of(emu, request.args["id"])
    rows = emu.state.submissions_of(study.id)
    wanted = _status_filter(request)
    if wanted:
        rows = [s for s in rows if s.status == wanted]
    return 200, paginate(request, [list_item(s) for s in rows])


def list_submissions(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    """``GET /submissions/?study=``: the same items, paged by page/page_size (20)."""
    study_id = request.query.get("study")
    if study_id:
        rows = emu.state.submissions_of(study_of(emu, study_id).id)
    else:
        rows = sorted(emu.state.submissions.values(), key=lambda s: s.seq)
    wanted = _status_filter(request)
    if wanted:
        rows = [s for s in rows if s.status == wanted]
    return 200, paginate(request, [list_item(s) for s in rows], default_size=20)


def count_submissions(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    study = study_of(emu, request.args["id"])
    counts = {
        status: 0
        for status in (
            "ACTIVE",
            "APPROVED",
            "AWAITING REVIEW",
            "REJECTED",
            "RESERVED",
            "RETURNED",
            "TIMED-OUT",
            "PARTIALLY APPROVED",
            "SCREENED OUT",
        )
    }
    rows = emu.state.submissions_of(study.id)
    for submission in rows:
        counts[submission.status] = counts.get(submission.status, 0) + 1
    counts["TOTAL"] = len(rows)
    return 200, counts


def get_submission(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    return 200, detail(submission_of(emu, request.args["id"]))


def transition(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    submission = submission_of(emu, request.args["id"])
    body = request.obj()
    action = body.get("action")
    if action not in _TARGETS:
        raise ProlificError(400, {"action": ["Must be one of APPROVE, REJECT."]})
    if action == "REJECT":
        message = body.get("message")
        if not isinstance(message, str) or len(message) < MIN_REJECTION_MESSAGE:
            raise ProlificError(
                400,
                {
                    "message": [
                        "Required when rejecting: a message to the participant of at least "
                        f"{MIN_REJECTION_MESSAGE} characters."
                    ]
                },
            )
        category = body.get("rejection_category")
        if category not in REJECTION_CATEGORIES:
            raise ProlificError(
                400,
                {"rejection_category": [f"Must be one of {', '.join(REJECTION_CATEGORIES)}."]},
            )
    target = _TARGETS[action]
    # "this endpoint is idempotent, so if you make the same request twice, the second
    # request will be ignored"
    if submission.status == target:
        return 200, detail(submission)
    if submission.status != "AWAITING REVIEW":
        raise ProlificError(
            400,
            f"Submission {submission.id} is {submission.status}: only submissions awaiting "
            f"review can be {target.lower()}.",
        )
    if action == "APPROVE":
        approve(emu, submission)
    else:
        submission.status = "REJECTED"
        submission.rejection_message = body["message"]
        submission.rejection_category = body["rejection_category"]
        emu.status_changed(submission)
    return 200, detail(submission)


def approve(emu: ProlificEmulator, submission: Submission) -> None:
    submission.status = "APPROVED"
    submission.times_approved += 1
    emu.state.balance -= submission.reward
    emu.status_changed(submission)


def bulk_approve(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    body = request.obj()
    state = emu.state
    if "submission_ids" in body:
        wanted = request.ids("submission_ids")
        unknown = [i for i in wanted if i not in state.submissions]
        if unknown:
            raise ProlificError(
                400, {"submission_ids": [f"Unknown submissions: {', '.join(unknown)}"]}
            )
        rows = [state.submissions[i] for i in wanted]
    elif "study_id" in body or "participant_ids" in body:
        study = study_of(emu, request.id("study_id"))
        participants = request.ids("participant_ids")
        by_participant = {s.participant_id: s for s in state.submissions_of(study.id)}
        absent = [p for p in participants if p not in by_participant]
        if absent:
            raise ProlificError(
                400,
                {"participant_ids": [f"Not in study {study.id}: {', '.join(absent)}"]},
            )
        rows = [by_participant[p] for p in participants]
    else:
        raise ProlificError(
            400, "Give submission_ids, or study_id with participant_ids, to approve."
        )
    stuck = [s.id for s in rows if s.status not in ("AWAITING REVIEW", "APPROVED")]
    if stuck:
        raise ProlificError(
            400, f"Only submissions awaiting review can be approved: {', '.join(stuck)}"
        )
    for submission in rows:
        if submission.status == "AWAITING REVIEW":
            approve(emu, submission)
    return 202, {"message": "Bulk approve in progress"}
