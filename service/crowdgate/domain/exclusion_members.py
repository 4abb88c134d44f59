"""Who belongs to an exclusion group and why: adding and removing by source, recording a
study's participants as they go, and reading members page by page."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, literal, select
from sqlalchemy.orm import Session

from crowdgate.domain.exclusion_groups import EVENTS_FOR, RECORD
from crowdgate.domain.group_checks import excluding_group, missing_include_group, refusal
from crowdgate.domain.member_rows import chunks, insert_members, one_of, plan_with_values
from crowdgate.models import ExclusionGroup, ExclusionMember, StudyGroup

#: Where explicitly listed workers come from.
LISTED = "workers"


def hit_source(hit_id: str) -> str:
    return f"hit:{hit_id}"


def file_source(filename: str) -> str:
    return f"file:{filename}"[:200]


def study_source(slug: str) -> str:
    return f"study:{slug}"


@dataclass
class MemberChange:
    """One request's changes: additions as (worker, source) pairs; removals of whole
    workers, or of what some sources added."""

    add: list[tuple[str, str]] = field(default_factory=list)
    remove_workers: set[str] = field(default_factory=set)
    remove_sources: set[str] = field(default_factory=set)


def _sources_of(session: Session, group_id: int, workers: Iterable[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for chunk in chunks(sorted(set(workers))):
        for worker_id, source in session.execute(
            select(ExclusionMember.worker_id, ExclusionMember.source).where(
                ExclusionMember.group_id == group_id,
                one_of(session, ExclusionMember.worker_id, chunk),
            )
        ):
            found.setdefault(worker_id, set()).add(source)
    return found


def change_members(
    session: Session, group: ExclusionGroup, change: MemberChange, *, now: datetime
) -> dict[str, Any]:
    """Apply removals, then additions, and say what happened to whom.

    Removals go first, as in the hand-written scripts this replaces: a worker a request
    both adds and removes stays a member, and is reported as ``kept``.
    """
    plan_with_values(session)
    removed_sources = sorted(change.remove_sources)
    by_source: set[str] = set()
    for chunk in chunks(removed_sources):
        by_source.update(
            session.scalars(
                select(ExclusionMember.worker_id)
                .where(
                    ExclusionMember.group_id == group.id,
                    one_of(session, ExclusionMember.source, chunk),
                )
                .distinct()
            )
        )
    added_by: dict[str, set[str]] = {}
    for worker_id, source in change.add:
        added_by.setdefault(worker_id, set()).add(source)
    named_for_removal = change.remove_workers | by_source
    before = _sources_of(session, group.id, set(added_by) | named_for_removal)

    for chunk in chunks(sorted(change.remove_workers)):
        session.execute(
            delete(ExclusionMember)
            .where(
                ExclusionMember.group_id == group.id,
                one_of(session, ExclusionMember.worker_id, chunk),
            )
            .execution_options(synchronize_session=False)
        )
    for chunk in chunks(removed_sources):
        session.execute(
            delete(ExclusionMember)
            .where(
                ExclusionMember.group_id == group.id,
                one_of(session, ExclusionMember.source, chunk),
            )
            .execution_options(synchronize_session=False)
        )
    insert_members(
        session,
        group.id,
        ((worker_id, source, None) for worker_id, source in change.add),
        now=now,
    )

    after: dict[str, set[str]] = {}
    for worker_id in set(before) | set(added_by):
        left = set() if worker_id in change.remove_workers else set(before.get(worker_id, ()))
        left -= change.remove_sources
        after[worker_id] = left | added_by.get(worker_id, set())
    kept = sorted(w for w in named_for_removal if after.get(w))
    held_before = set().union(*before.values())
    return {
        "added": sum(1 for w in added_by if not before.get(w)),
        "removed": sum(1 for w in named_for_removal if before.get(w) and not after.get(w)),
        "kept": len(kept),
        "already_members": sum(1 for w in added_by if before.get(w) and w not in named_for_removal),
        "not_members": sum(
            1 for w in change.remove_workers if not before.get(w) and w not in added_by
        ),
        "kept_workers": [
            {
                "worker_id": w,
                "reason": "added_in_this_request" if w in added_by else "other_sources",
                "sources": sorted(after[w]),
            }
            for w in kept[:100]
        ],
        "unmatched_sources": [s for s in removed_sources if s not in held_before],
    }


def record_participants(
    session: Session,
    study_id: int,
    slug: str,
    worker_ids: Sequence[str],
    event: str,
    *,
    now: datetime,
) -> None:
    """Add the study's participants to the groups recording it whose rule ``event`` meets."""
    groups = [
        group_id
        for group_id, record_when in session.execute(
            select(StudyGroup.group_id, ExclusionGroup.record_when)
            .join(ExclusionGroup, ExclusionGroup.id == StudyGroup.group_id)
            .where(StudyGroup.study_id == study_id, StudyGroup.role == RECORD)
            # The lock the members' foreign key takes anyway, taken before choosing: a
            # group deleted meanwhile is then skipped instead of failing the insert.
            .with_for_update(read=True, key_share=True, of=ExclusionGroup)
        )
        if event in EVENTS_FOR.get(record_when, ())
    ]
    source = study_source(slug)
    for group_id in groups:
        insert_members(session, group_id, ((w, source, study_id) for w in worker_ids), now=now)


def group_refusal(session: Session, study_id: int, worker_id: str) -> tuple[str, str] | None:
    """Whether the study's groups keep ``worker_id`` out: (reason, group) or None."""
    study, worker = literal(study_id), literal(worker_id)
    row = session.execute(
        select(excluding_group(study, worker), missing_include_group(study, worker))
    ).one()
    return refusal(row[0], row[1])


@dataclass(frozen=True)
class Member:
    worker_id: str
    sources: list[dict[str, Any]]


def list_members(
    session: Session, group: ExclusionGroup, *, after: str | None, limit: int
) -> list[Member]:
    """A page of members in worker id order, each with every source and when it came."""
    query = (
        select(ExclusionMember.worker_id)
        .where(ExclusionMember.group_id == group.id)
        .group_by(ExclusionMember.worker_id)
        .order_by(ExclusionMember.worker_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(ExclusionMember.worker_id > after)
    workers = list(session.scalars(query))
    if not workers:
        return []
    sources: dict[str, list[dict[str, Any]]] = {w: [] for w in workers}
    for worker_id, source, added_at in session.execute(
        select(ExclusionMember.worker_id, ExclusionMember.source, ExclusionMember.added_at)
        # The page is a run of consecutive ids: a range of the (group, worker) index.
        .where(
            ExclusionMember.group_id == group.id,
            ExclusionMember.worker_id.between(workers[0], workers[-1]),
        )
        .order_by(ExclusionMember.worker_id, ExclusionMember.added_at, ExclusionMember.id)
    ):
        sources[worker_id].append({"source": source, "added_at": added_at})
    return [Member(w, sources[w]) for w in workers]


def iter_members(session: Session, group: ExclusionGroup, *, batch: int = 1000) -> Iterator[Member]:
    after = None
    while True:
        page = list_members(session, group, after=after, limit=batch)
        yield from page
        if len(page) < batch:
            return
        after = page[-1].worker_id


def member_ids(session: Session, group_id: int) -> set[str]:
    return set(
        session.scalars(
            select(ExclusionMember.worker_id).where(ExclusionMember.group_id == group_id).distinct()
        )
    )
