"""Whether a study's groups keep a worker out: SQL expressions both start and the hot
eligibility read embed, so the rule is written once and costs no extra round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, exists, func, or_, select

from crowdgate.models import ExclusionGroup, ExclusionMember, StudyGroup

EXCLUDE = "exclude"
INCLUDE = "include"


def excluding_group(study_id: Any, worker_id: Any) -> ScalarSelect[Any]:
    """The first of the study's exclude groups listing the worker, or NULL.

    A membership that came from this study's own participants does not count: the
    study's repeat rule decides about its own workers.
    """
    return (
        select(func.min(ExclusionGroup.name))
        .select_from(StudyGroup)
        .join(ExclusionMember, ExclusionMember.group_id == StudyGroup.group_id)
        .join(ExclusionGroup, ExclusionGroup.id == StudyGroup.group_id)
        .where(
            StudyGroup.study_id == study_id,
            StudyGroup.role == EXCLUDE,
            ExclusionMember.worker_id == worker_id,
            or_(ExclusionMember.study_id.is_(None), ExclusionMember.study_id != study_id),
        )
        .scalar_subquery()
    )


def missing_include_group(study_id: Any, worker_id: Any) -> ScalarSelect[Any]:
    """The first of the study's include groups not listing the worker, or NULL."""
    listed = exists().where(
        ExclusionMember.group_id == StudyGroup.group_id, ExclusionMember.worker_id == worker_id
    )
    return (
        select(func.min(ExclusionGroup.name))
        .select_from(StudyGroup)
        .join(ExclusionGroup, ExclusionGroup.id == StudyGroup.group_id)
        .where(StudyGroup.study_id == study_id, StudyGroup.role == INCLUDE, ~listed)
        .scalar_subquery()
    )


def refusal(excluded_by: str | None, missing_include: str | None) -> tuple[str, str] | None:
    """The reason and group that keep a new participant out, if any."""
    if excluded_by is not None:
        return "excluded", excluded_by
    if missing_include is not None:
        return "not_included", missing_include
    return None
