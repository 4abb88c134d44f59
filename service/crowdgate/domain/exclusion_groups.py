"""Exclusion groups: named worker sets, and which studies record into, exclude or require them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crowdgate.domain import statuses
from crowdgate.domain.group_checks import EXCLUDE, INCLUDE
from crowdgate.domain.member_rows import insert_members
from crowdgate.errors import Conflict, NotFound, ValidationFailed
from crowdgate.models import ExclusionGroup, ExclusionMember, Participant, Study, StudyGroup

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")

RECORD = "record"
#: The study field that holds each role's group names.
STUDY_FIELDS = {EXCLUDE: "exclusion_groups", INCLUDE: "include_groups"}

#: What makes a study's participant join a group that records the study, by the
#: group's ``record_when``. A submission found by sync counts as a completion, and
#: anyone with an assignment has started.
STARTED, COMPLETED, SUBMITTED = "started", "completed", "submitted"
RECORD_WHEN = (STARTED, COMPLETED, SUBMITTED)
EVENTS_FOR = {
    STARTED: (STARTED, COMPLETED, SUBMITTED),
    COMPLETED: (COMPLETED, SUBMITTED),
    SUBMITTED: (SUBMITTED,),
}
#: The participant statuses that count as each event when a rule is set on a study
#: that has participants already.
STATUSES_FOR = {
    STARTED: statuses.ALL,
    COMPLETED: (
        statuses.COMPLETED,
        statuses.SUBMITTED,
        statuses.APPROVED,
        statuses.REJECTED,
    ),
    SUBMITTED: (statuses.SUBMITTED, statuses.APPROVED, statuses.REJECTED),
}


def _not_found(name: str) -> NotFound:
    return NotFound(f"No exclusion group is named {name!r}.", code="group_not_found")


def get_group(
    session: Session, name: str, *, for_update: bool = False, for_delete: bool = False
) -> ExclusionGroup:
    """The group of that name, locked to change it (``for_update``) or to delete it.

    A change locks the row FOR NO KEY UPDATE, not FOR UPDATE: adding a member takes a
    key-share lock on its group (the foreign key's check), and a /start that records
    its worker into the group already holds its study's lock. Were the change to hold
    FOR UPDATE while it writes rows naming that study, the two would wait for each
    other (PostgreSQL aborts one as a deadlock); and a start would wait for uploads.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise _not_found(name)
    query = select(ExclusionGroup).where(ExclusionGroup.name == name)
    if for_delete:
        query = query.with_for_update()
    elif for_update:
        query = query.with_for_update(key_share=True)
    group = session.scalar(query)
    if group is None:
        raise _not_found(name)
    return group


def list_groups(session: Session, *, after: int | None, limit: int) -> list[ExclusionGroup]:
    query = select(ExclusionGroup).order_by(ExclusionGroup.id).limit(limit)
    if after is not None:
        query = query.where(ExclusionGroup.id > after)
    return list(session.scalars(query))


def put_group(
    session: Session, name: str, values: Mapping[str, Any], *, now: datetime
) -> tuple[ExclusionGroup, bool]:
    """Create the group or update the fields given; returns it and whether it is new.

    ``record_studies`` replaces the studies whose participants join automatically; the
    participants those studies have already join now, by the same rule.
    """
    # Insert-or-ignore, then lock: two first PUTs of a name at once must not both insert
    # (the loser would fail on the unique name); the second one updates instead.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = session.scalar(
        insert(ExclusionGroup)
        .values(name=name, description="", record_when=STARTED, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(ExclusionGroup.id)
    )
    created = inserted is not None
    group = session.scalars(
        select(ExclusionGroup)
        .where(ExclusionGroup.name == name)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: see get_group
        .execution_options(populate_existing=True)
    ).one()
    for field in ("description", "record_when"):
        if field in values:
            setattr(group, field, values[field])
    if "binding" in values:
        binding = values["binding"] or {}
        if (group.binding_platform, group.binding_ref) != (
            binding.get("platform"),
            binding.get("ref"),
        ):
            group.sync_job_id = None  # a sync to the old binding is not resumed on the new
        group.binding_platform = binding.get("platform")
        group.binding_mode = binding.get("mode")
        group.binding_ref = binding.get("ref")
        group.binding_name = binding.get("name")
    group.updated_at = now
    session.flush()
    if "record_studies" in values:
        studies = studies_named(session, values["record_studies"], "record_studies")
        session.execute(
            delete(StudyGroup).where(StudyGroup.group_id == group.id, StudyGroup.role == RECORD)
        )
        session.add_all(StudyGroup(study_id=s.id, group_id=group.id, role=RECORD) for s in studies)
        session.flush()
    if "record_studies" in values or "record_when" in values:
        _backfill(session, group, now)
    return group, created


def _backfill(session: Session, group: ExclusionGroup, now: datetime) -> None:
    rows = session.execute(
        select(Participant.worker_id, Study.slug, Study.id)
        .join(Study, Study.id == Participant.study_id)
        .join(StudyGroup, StudyGroup.study_id == Study.id)
        .where(
            StudyGroup.group_id == group.id,
            StudyGroup.role == RECORD,
            Participant.status.in_(STATUSES_FOR[group.record_when]),
        )
        .distinct()
    )
    insert_members(
        session,
        group.id,
        [(worker_id, f"study:{slug}", study_id) for worker_id, slug, study_id in rows],
        now=now,
    )


def delete_group(session: Session, group: ExclusionGroup) -> None:
    users = study_slugs(session, group, roles=(EXCLUDE, INCLUDE))
    if users:
        raise Conflict(
            f"Studies use exclusion group {group.name!r}: {', '.join(users)}. Remove it from "
            "their exclusion_groups and include_groups first.",
            code="group_in_use",
            extra={"studies": users},
        )
    session.delete(group)


def study_slugs(session: Session, group: ExclusionGroup, *, roles: Sequence[str]) -> list[str]:
    return list(
        session.scalars(
            select(Study.slug)
            .join(StudyGroup, StudyGroup.study_id == Study.id)
            .where(StudyGroup.group_id == group.id, StudyGroup.role.in_(roles))
            .order_by(Study.slug)
            .distinct()
        )
    )


def member_count(session: Session, group: ExclusionGroup) -> int:
    return int(
        session.scalar(
            select(func.count(ExclusionMember.worker_id.distinct())).where(
                ExclusionMember.group_id == group.id
            )
        )
        or 0
    )


def studies_named(session: Session, slugs: Sequence[str], field: str) -> list[Study]:
    """The studies of these slugs; a missing one is refused, naming ``field``."""
    if not slugs:
        return []
    found = list(session.scalars(select(Study).where(Study.slug.in_(slugs))))
    missing = sorted(set(slugs) - {s.slug for s in found})
    if missing:
        raise ValidationFailed(
            f"No study has the slug {missing[0]!r}.",
            code="study_not_found",
            fields={field: [f"no study {slug!r}" for slug in missing]},
        )
    return found


def set_study_groups(session: Session, study: Study, role: str, names: Sequence[str]) -> None:
    """Replace the groups ``study`` uses in ``role`` (exclude or include)."""
    field = STUDY_FIELDS[role]
    groups = list(
        session.scalars(
            select(ExclusionGroup)
            .where(ExclusionGroup.name.in_(names))
            # Key-share, as the rows written below will take: a group being deleted is
            # waited for and then missing (422), not a foreign key failure (500).
            .with_for_update(read=True, key_share=True)
        )
    )
    missing = sorted(set(names) - {g.name for g in groups})
    if missing:
        raise ValidationFailed(
            f"No exclusion group is named {missing[0]!r}; create it with "
            f"PUT /api/v1/exclusions/{missing[0]} first.",
            code="group_not_found",
            fields={field: [f"no group {name!r}" for name in missing]},
        )
    session.execute(
        delete(StudyGroup).where(StudyGroup.study_id == study.id, StudyGroup.role == role)
    )
    session.add_all(StudyGroup(study_id=study.id, group_id=g.id, role=role) for g in groups)
    session.flush()


def study_group_names(
    session: Session, study_ids: Sequence[int]
) -> dict[int, dict[str, list[str]]]:
    """Each study's group names by role, for showing studies."""
    found: dict[int, dict[str, list[str]]] = {
        study_id: {role: [] for role in (EXCLUDE, INCLUDE, RECORD)} for study_id in study_ids
    }
    if not study_ids:
        return found
    rows = session.execute(
        select(StudyGroup.study_id, StudyGroup.role, ExclusionGroup.name)
        .join(ExclusionGroup, ExclusionGroup.id == StudyGroup.group_id)
        .where(StudyGroup.study_id.in_(study_ids))
        .order_by(ExclusionGroup.name)
    )
    for study_id, role, name in rows:
        found[study_id][role].append(name)
    return found
