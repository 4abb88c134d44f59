"""The platform qualifications behind a study's exclusion and include groups, for
requirements on the study's postings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdgate.domain.group_checks import EXCLUDE, INCLUDE
from crowdgate.models import ExclusionGroup, StudyGroup


@dataclass(frozen=True)
class BoundGroup:
    name: str
    role: str
    platform: str | None
    mode: str | None
    ref: str | None


def bound_groups(session: Session, study_id: int) -> list[BoundGroup]:
    """The study's exclude and include groups with their bindings (if any), by name."""
    rows = session.execute(
        select(
            ExclusionGroup.name,
            StudyGroup.role,
            ExclusionGroup.binding_platform,
            ExclusionGroup.binding_mode,
            ExclusionGroup.binding_ref,
        )
        .join(StudyGroup, StudyGroup.group_id == ExclusionGroup.id)
        .where(StudyGroup.study_id == study_id, StudyGroup.role.in_((EXCLUDE, INCLUDE)))
        .order_by(ExclusionGroup.name)
    )
    return [BoundGroup(*row) for row in rows]
