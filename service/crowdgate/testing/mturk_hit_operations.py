"""HIT operations: CreateHIT, CreateHITType, CreateHITWithHITType, GetHIT, ListHITs,
UpdateExpirationForHIT, CreateAdditionalAssignmentsForHIT, DeleteHIT."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crowdgate.testing.mturk_account import Account, fee, posting_fee_rate
from crowdgate.testing.mturk_requests import MTurkError, Params, bad, page
from crowdgate.testing.mturk_state import HIT, SYSTEM_QUALIFICATIONS, HITType
from crowdgate.testing.mturk_xml import question_problem

COMPARATORS = {
    "LessThan", "LessThanOrEqualTo", "GreaterThan", "GreaterThanOrEqualTo", "EqualTo",
    "NotEqualTo", "Exists", "DoesNotExist", "In", "NotIn",
}  # fmt: skip
ONE_YEAR = 365 * 24 * 3600
LOCALE_QUALIFICATION = "00000000000000000071"


def hit_not_found(hit_id: str) -> MTurkError:
    return MTurkError(f"Hit {hit_id} does not exist.", "AWS.MechanicalTurk.HITDoesNotExist")


def find_hit(account: Account, hit_id: str) -> HIT:
    hit = account.state.hits.get(hit_id)
    if hit is None:
        raise hit_not_found(hit_id)
    return hit


def hit_status(account: Account, hit: HIT) -> str:
    taken = len(account.state.assignments_of(hit.hit_id))
    if hit.expires_at > account.now() and taken < hit.max_assignments:
        return "Assignable"
    return "Reviewable"


def hit_shape(account: Account, hit: HIT) -> dict[str, Any]:
    assignments = account.state.assignments_of(hit.hit_id)
    completed = sum(1 for a in assignments if a.status in ("Approved", "Rejected"))
    shape: dict[str, Any] = {
        "HITId": hit.hit_id,
        "HITTypeId": hit.hit_type_id,
        "HITGroupId": hit.hit_type_id,
        "CreationTime": hit.created_at,
        "Title": hit.title,
        "Description": hit.description,
        "Question": hit.question,
        "Keywords": hit.keywords,
        "HITStatus": hit_status(account, hit),
        "MaxAssignments": hit.max_assignments,
        "Reward": f"{hit.reward:.2f}",
        "AutoApprovalDelayInSeconds": hit.auto_approval_delay,
        "Expiration": hit.expires_at,
        "AssignmentDurationInSeconds": hit.assignment_duration,
        "QualificationRequirements": hit.qualification_requirements,
        "HITReviewStatus": "NotReviewed",
        "NumberOfAssignmentsPending": 0,
        "NumberOfAssignmentsAvailable": max(0, hit.max_assignments - len(assignments)),
        "NumberOfAssignmentsCompleted": completed,
    }
    if hit.annotation:
        shape["RequesterAnnotation"] = hit.annotation
    return shape


def _requirements(account: Account, params: Params) -> list[dict[str, Any]]:
    given = params.raw("QualificationRequirements") or []
    if not isinstance(given, list):
        raise bad("QualificationRequirements must be a list")
    for number, requirement in enumerate(given, start=1):
        where = f"QualificationRequirements.{number}"
        if not isinstance(requirement, dict):
            raise bad(f"{where} must be an object")
        type_id = requirement.get("QualificationTypeId")
        comparator = requirement.get("Comparator")
        if comparator not in COMPARATORS:
            raise bad(f"{where}.Comparator '{comparator}' is not one of {sorted(COMPARATORS)}")
        if (
            type_id not in SYSTEM_QUALIFICATIONS
            and type_id not in account.state.qualification_types
        ):
            raise MTurkError(
                f"{where}.QualificationTypeId: QualificationType {type_id} does not exist.",
                "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
            )
        integers = requirement.get("IntegerValues") or []
        locales = requirement.get("LocaleValues") or []
        if comparator in ("Exists", "DoesNotExist"):
            if integers or locales:
                raise bad(f"{where}: {comparator} takes no values")
        elif type_id == LOCALE_QUALIFICATION:
            if not locales or integers:
                raise bad(f"{where}: a locale requirement needs LocaleValues")
            if comparator not in ("EqualTo", "NotEqualTo", "In", "NotIn"):
                raise bad(f"{where}: a locale requirement cannot use {comparator}")
            if comparator in ("EqualTo", "NotEqualTo") and len(locales) != 1:
                raise bad(f"{where}: {comparator} takes exactly one locale")
        elif comparator in ("In", "NotIn"):
            if not integers:
                raise bad(f"{where}: {comparator} needs IntegerValues")
        elif len(integers) != 1 or locales:
            raise bad(f"{where}: {comparator} takes exactly one integer value")
    return [dict(r) for r in given]


def _hit_fields(account: Account, params: Params) -> dict[str, Any]:
    reward = params.money("Reward")
    assert reward is not None
    if reward < Decimal("0.01") and not params.has("HITTypeId"):
        raise bad("Reward must be at least $0.01")
    duration = params.integer("AssignmentDurationInSeconds", required=True, low=30, high=ONE_YEAR)
    return {
        "title": params.text("Title", max_length=128),
        "description": params.text("Description", max_length=2000),
        "keywords": params.string("Keywords", max_length=1000) or "",
        "reward": reward,
        "assignment_duration": duration,
        "auto_approval_delay": params.integer(
            "AutoApprovalDelayInSeconds", default=2_592_000, low=0, high=2_592_000
        ),
        "qualification_requirements": _requirements(account, params),
    }


def _refuse_repeat(account: Account, params: Params) -> str | None:
    token = params.string("UniqueRequestToken", max_length=64)
    earlier = account.token_seen("CreateHIT", token)
    if earlier is not None:
        raise MTurkError(
            f"The HIT with ID {earlier} already exists for UniqueRequestToken {token}.",
            "AWS.MechanicalTurk.HitAlreadyExists",
        )
    return token


def _create(account: Account, params: Params, kind: HITType) -> dict[str, Any]:
    token = _refuse_repeat(account, params)
    lifetime = params.integer("LifetimeInSeconds", required=True, low=30, high=ONE_YEAR)
    assert lifetime is not None
    max_assignments = params.integer("MaxAssignments", default=1, low=1, high=1_000_000)
    assert max_assignments is not None
    question = params.string("Question", max_length=131072)
    layout = params.string("HITLayoutId")
    if (question is None) == (layout is None):
        raise bad("Exactly one of Question and HITLayoutId must be given", "AWS.MissingParameters")
    if question is not None:
        problem = question_problem(question)
        if problem is not None:
            raise MTurkError(problem, "AWS.MechanicalTurk.XMLParseError")
    per_assignment = kind.reward + fee(kind.reward, posting_fee_rate(max_assignments))
    account.charge(per_assignment * max_assignments)
    now = account.now()
    hit = HIT(
        hit_id=account.new_id(),
        hit_type_id=kind.hit_type_id,
        title=kind.title,
        description=kind.description,
        keywords=kind.keywords,
        question=question or f"<HITLayout>{layout}</HITLayout>",
        reward=kind.reward,
        max_assignments=max_assignments,
        assignment_duration=kind.assignment_duration,
        auto_approval_delay=kind.auto_approval_delay,
        created_at=now,
        expires_at=now + lifetime,
        annotation=params.string("RequesterAnnotation", max_length=255) or "",
        qualification_requirements=kind.qualification_requirements,
        seq=account.state.seq(),
    )
    account.state.hits[hit.hit_id] = hit
    account.remember_token("CreateHIT", token, hit.hit_id)
    return {"HIT": hit_shape(account, hit)}


def hit_type_for(account: Account, fields: dict[str, Any]) -> HITType:
    # MTurk gives HITs with the same properties the same HIT type.
    for existing in account.state.hit_types.values():
        if all(getattr(existing, k) == v for k, v in fields.items()):
            return existing
    kind = HITType(hit_type_id=account.new_id(), **fields)
    account.state.hit_types[kind.hit_type_id] = kind
    return kind


def create_hit(account: Account, params: Params) -> dict[str, Any]:
    kind_fields = _hit_fields(account, params)
    _refuse_repeat(account, params)
    return _create(account, params, hit_type_for(account, kind_fields))


def create_hit_type(account: Account, params: Params) -> dict[str, Any]:
    return {"HITTypeId": hit_type_for(account, _hit_fields(account, params)).hit_type_id}


def create_hit_with_hit_type(account: Account, params: Params) -> dict[str, Any]:
    type_id = params.entity_id("HITTypeId")
    kind = account.state.hit_types.get(type_id or "")
    if kind is None:
        raise MTurkError(
            f"HITType {type_id} does not exist.", "AWS.MechanicalTurk.HITTypeDoesNotExist"
        )
    return _create(account, params, kind)


def get_hit(account: Account, params: Params) -> dict[str, Any]:
    return {"HIT": hit_shape(account, find_hit(account, params.entity_id("HITId") or ""))}


def list_hits(account: Account, params: Params) -> dict[str, Any]:
    chosen, extra = page(params, list(account.state.hits.values()), lambda h: h.seq)
    return {"HITs": [hit_shape(account, h) for h in chosen], **extra}


def update_expiration_for_hit(account: Account, params: Params) -> dict[str, Any]:
    hit = find_hit(account, params.entity_id("HITId") or "")
    expire_at = params.timestamp("ExpireAt")
    now = account.now()
    if expire_at > now + ONE_YEAR:
        raise bad("ExpireAt must be within a year from now")
    # A time in the past (0 is customary) expires the HIT at once.
    hit.expires_at = max(expire_at, now)
    return {}


def create_additional_assignments(account: Account, params: Params) -> dict[str, Any]:
    hit = find_hit(account, params.entity_id("HITId") or "")
    extra = params.integer("NumberOfAdditionalAssignments", required=True, low=1, high=1_000_000)
    assert extra is not None
    token = params.string("UniqueRequestToken", max_length=64)
    if account.token_seen("CreateAdditionalAssignmentsForHIT", token) is not None:
        assert token is not None
        raise account.duplicate(token)
    if hit.max_assignments < 10 <= hit.max_assignments + extra:
        raise MTurkError(
            "HITs created with fewer than 10 assignments cannot be extended to 10 or more.",
            "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease",
        )
    total = hit.max_assignments + extra
    account.charge((hit.reward + fee(hit.reward, posting_fee_rate(total))) * extra)
    hit.max_assignments = total
    account.remember_token("CreateAdditionalAssignmentsForHIT", token, hit.hit_id)
    return {}


def delete_hit(account: Account, params: Params) -> dict[str, Any]:
    hit = find_hit(account, params.entity_id("HITId") or "")
    status = hit_status(account, hit)
    if status != "Reviewable" or hit.expires_at > account.now():
        raise MTurkError(
            f"This HIT is currently in the state '{status}'. This operation can be called "
            "with a status of: Reviewable, once the HIT has expired",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    if any(a.status == "Submitted" for a in account.state.assignments_of(hit.hit_id)):
        raise MTurkError(
            "This HIT has assignments that are neither approved nor rejected.",
            "AWS.MechanicalTurk.InvalidHITState",
        )
    # MTurk forgets a deleted HIT and its assignments: that is why crowdgate keeps a record.
    del account.state.hits[hit.hit_id]
    for assignment in account.state.by_hit.pop(hit.hit_id, []):
        del account.state.assignments[assignment.assignment_id]
    return {}
