"""What survey pages read most: the caller's study with one participant row, in one statement.

Pages check codes and eligibility far more often than anything else, so each of these
reads is a single precompiled SELECT that finds the study (by its survey key's hash,
or by slug for admin keys) and left-joins the one participant row asked about. The
answers are plain tuples, not ORM objects: nothing here is written back.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, select

from crowdgate.db import PreparedSelect, SingleReads
from crowdgate.domain.group_checks import excluding_group, missing_include_group
from crowdgate.models import Participant, Study


class StudyView(NamedTuple):
    """The columns of a study that survey reads and their checks need."""

    id: int
    slug: str
    platform: str
    allow_repeats: bool
    allowed_origins: list[str]


class AttemptView(NamedTuple):
    """One participant row: a code's owner, or a worker's latest attempt."""

    worker_id: str
    status: str
    condition: str | None
    assignment_id: str | None


#: How the caller's study is picked: by the survey key's hash, or by slug for admin keys.
BY_KEY_HASH = "key_hash"
BY_SLUG = "slug"

_SELECTORS: dict[str, ColumnElement[bool]] = {
    BY_KEY_HASH: Study.survey_key_hash == bindparam("selector"),
    BY_SLUG: Study.slug == bindparam("selector"),
}
_COLUMNS = (
    Study.id,
    Study.slug,
    Study.platform,
    Study.allow_repeats,
    Study.allowed_origins,
    Participant.worker_id,
    Participant.status,
    Participant.condition,
    Participant.assignment_id,
)


class GroupCheck(NamedTuple):
    """The first of the study's groups that would keep the worker from starting anew."""

    excluded_by: str | None
    missing_include: str | None


def _with(
    join_on: ColumnElement[bool],
    *,
    latest_first: bool = False,
    extra: tuple[Any, ...] = (),
) -> dict[str, PreparedSelect]:
    statements = {}
    for by, selector in _SELECTORS.items():
        statement = (
            select(*_COLUMNS, *extra)
            .select_from(Study)
            .outerjoin(Participant, and_(Participant.study_id == Study.id, join_on))
            .where(selector)
        )
        if latest_first:
            # Study rows are unique by key or slug: the rows are one worker's attempts.
            statement = statement.order_by(Participant.attempt.desc().nulls_last()).limit(1)
        statements[by] = PreparedSelect(statement)
    return statements


_CODE_OWNER = _with(Participant.completion_code == bindparam("code"))
# The group checks ride along as scalar subqueries: eligibility stays one statement,
# and each check is an index probe whatever the groups' sizes.
_LATEST_ATTEMPT = _with(
    Participant.worker_id == bindparam("worker_id"),
    latest_first=True,
    extra=(
        excluding_group(Study.id, bindparam("worker_id")),
        missing_include_group(Study.id, bindparam("worker_id")),
    ),
)


def _split(row: tuple[Any, ...] | None) -> tuple[StudyView, AttemptView | None] | None:
    if row is None:
        return None
    study = StudyView(*row[:5])
    return study, (AttemptView(*row[5:9]) if row[5] is not None else None)


def study_and_code_owner(
    reads: SingleReads, by: str, selector: str, code: str
) -> tuple[StudyView, AttemptView | None] | None:
    """The study and the participant holding ``code`` in it; None when no study matches."""
    return _split(reads.first(_CODE_OWNER[by], {"selector": selector, "code": code}))


def study_and_latest_attempt(
    reads: SingleReads, by: str, selector: str, worker_id: str
) -> tuple[StudyView, AttemptView | None, GroupCheck] | None:
    """The study, the worker's most recent attempt at it and what its groups say about
    the worker; None when no study matches."""
    row = reads.first(_LATEST_ATTEMPT[by], {"selector": selector, "worker_id": worker_id})
    split = _split(row)
    if split is None or row is None:
        return None
    return split[0], split[1], GroupCheck(*row[9:11])
