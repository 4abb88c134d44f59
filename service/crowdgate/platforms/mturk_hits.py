"""CreateHIT's parameters from a PostingRequest, each checked against MTurk's limits."""

from __future__ import annotations

import re
import uuid
from typing import Any

from crowdgate.platforms import mturk_checks as check
from crowdgate.platforms.mturk_xml import external_question
from crowdgate.platforms.records import PostingRequest, Requirement

COMPARATORS = frozenset(
    {
        "LessThan",
        "LessThanOrEqualTo",
        "GreaterThan",
        "GreaterThanOrEqualTo",
        "EqualTo",
        "NotEqualTo",
        "Exists",
        "DoesNotExist",
        "In",
        "NotIn",
    }
)
GUARDED_ACTIONS = frozenset({"Accept", "PreviewAndAccept", "DiscoverPreviewAndAccept"})


def hit_params(request: PostingRequest) -> dict[str, Any]:
    """CreateHIT's parameters, every one checked against MTurk's documented limits."""
    check.text(request.title, "title", maximum=check.MAX_TITLE)
    check.text(request.description, "description", maximum=check.MAX_DESCRIPTION)
    check.text(request.keywords, "keywords", maximum=check.MAX_KEYWORDS, required=False)
    check.text(request.annotation, "annotation", maximum=check.MAX_ANNOTATION, required=False)
    if not isinstance(request.assignments, int) or not 1 <= request.assignments <= 1_000_000:
        raise check.refuse("assignments", f"must be 1 to 1000000, got {request.assignments!r}")
    if not request.external_url.startswith("https://") or len(request.external_url) > 2000:
        raise check.refuse(
            "external_url", "must be an https:// URL of at most 2000 characters (MTurk frames it)"
        )
    if not isinstance(request.frame_height, int) or not 0 <= request.frame_height <= 10_000:
        raise check.refuse("frame_height", "must be 0 (the whole window) to 10000 pixels")
    token = request.unique_token or uuid.uuid4().hex
    params: dict[str, Any] = {
        "Title": request.title,
        "Description": request.description,
        "Reward": check.money(request.reward, "reward"),
        "MaxAssignments": request.assignments,
        "LifetimeInSeconds": check.seconds(
            request.lifetime_seconds,
            "lifetime_seconds",
            minimum=check.MIN_DURATION,
            maximum=check.MAX_DURATION,
        ),
        "AssignmentDurationInSeconds": check.seconds(
            request.assignment_duration_seconds,
            "assignment_duration_seconds",
            minimum=check.MIN_DURATION,
            maximum=check.MAX_DURATION,
        ),
        "AutoApprovalDelayInSeconds": check.seconds(
            request.auto_approval_delay_seconds,
            "auto_approval_delay_seconds",
            minimum=0,
            maximum=check.MAX_AUTO_APPROVAL_DELAY,
        ),
        "Question": external_question(request.external_url, request.frame_height),
        "QualificationRequirements": [
            requirement_params(r, f"requirements.{i}") for i, r in enumerate(request.requirements)
        ],
        # Always a token, so botocore's own retry of a CreateHIT MTurk did carry
        # out comes back "already exists" instead of making a second HIT.
        "UniqueRequestToken": check.token(token, "unique_token"),
    }
    if request.keywords:
        params["Keywords"] = request.keywords
    if request.annotation:
        params["RequesterAnnotation"] = request.annotation
    return params


def requirement_params(requirement: Requirement, field: str) -> dict[str, Any]:
    check.entity_id(requirement.qualification_type_id, f"{field}.qualification_type_id")
    comparator = requirement.comparator
    if comparator not in COMPARATORS:
        raise check.refuse(
            f"{field}.comparator", f"must be one of {', '.join(sorted(COMPARATORS))}"
        )
    ints = [int(v) for v in requirement.integer_values]
    locales = [dict(v) for v in requirement.locale_values]
    given = len(ints) + len(locales)
    if ints and locales:
        raise check.refuse(f"{field}.integer_values", "give integer or locale values, not both")
    if comparator in {"Exists", "DoesNotExist"} and given:
        raise check.refuse(f"{field}.integer_values", f"{comparator} takes no values")
    if comparator in {"In", "NotIn"} and not given:
        raise check.refuse(f"{field}.integer_values", f"{comparator} needs at least one value")
    if comparator not in {"Exists", "DoesNotExist", "In", "NotIn"} and given != 1:
        raise check.refuse(f"{field}.integer_values", f"{comparator} needs exactly one value")
    out: dict[str, Any] = {
        "QualificationTypeId": requirement.qualification_type_id,
        "Comparator": comparator,
    }
    if ints:
        out["IntegerValues"] = ints
    if locales:
        for index, locale in enumerate(locales):
            country = str(locale.get("Country", ""))
            subdivision = locale.get("Subdivision")
            if not re.fullmatch(r"[A-Z]{2}", country) or (
                subdivision is not None and not re.fullmatch(r"[A-Z0-9]{2}", str(subdivision))
            ):
                raise check.refuse(
                    f"{field}.locale_values.{index}",
                    "needs Country as two capital letters (ISO 3166), and Subdivision as two",
                )
        out["LocaleValues"] = locales
    if requirement.actions_guarded is not None:
        if requirement.actions_guarded not in GUARDED_ACTIONS:
            raise check.refuse(
                f"{field}.actions_guarded", f"must be one of {', '.join(sorted(GUARDED_ACTIONS))}"
            )
        out["ActionsGuarded"] = requirement.actions_guarded
    return out
