"""Posting a study's HITs: requirements, the creation itself, extend and expire.

Platform calls never run inside a database transaction: the study is read into a
``StudyRef`` first, and each HIT is recorded in its own short transaction as soon as
the platform has created it, so a failure part-way keeps what was made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from crowdgate.db import Database
from crowdgate.domain.confirmation import require_live_confirmation
from crowdgate.domain.group_bindings import BoundGroup, bound_groups
from crowdgate.domain.group_checks import EXCLUDE
from crowdgate.domain.hit_plans import CostPlan, HitCost
from crowdgate.domain.studies import get_study
from crowdgate.errors import Conflict, NotFound, ValidationFailed
from crowdgate.models import Study
from crowdgate.platforms import (
    PlatformClient,
    PlatformError,
    Posting,
    PostingRequest,
    Requirement,
    get_platform,
)

#: Request fields that say how to act rather than what to post.
_ACTING_FIELDS = ("dry_run", "confirm", "request_key")


@dataclass(frozen=True)
class StudyRef:
    """What HIT creation needs of a study, read before any platform call."""

    id: int
    slug: str
    platform: str
    mode: str
    hit_ids: tuple[str, ...]
    exclusion_qualification_id: str | None
    survey_url: str | None
    #: The study's groups bound to a qualification where its HITs are posted:
    #: (type id, DoesNotExist for an exclude group or Exists for an include group).
    group_requirements: tuple[tuple[str, str], ...] = ()
    #: Groups with no such binding: only crowdgate's /eligibility and /start enforce them.
    unenforced_groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, study: Study, groups: Sequence[BoundGroup] = ()) -> StudyRef:
        bound = [
            g for g in groups if (g.platform, g.mode) == (study.platform, study.mode) and g.ref
        ]
        return cls(
            id=study.id,
            slug=study.slug,
            platform=study.platform,
            mode=study.mode,
            hit_ids=tuple(study.hit_ids or ()),
            exclusion_qualification_id=study.exclusion_qualification_id,
            # Studies keep no survey URL yet; when they do, it becomes the default here.
            survey_url=getattr(study, "survey_url", None),
            group_requirements=tuple(
                (g.ref, "DoesNotExist" if g.role == EXCLUDE else "Exists")
                for g in bound
                if g.ref is not None
            ),
            unenforced_groups=tuple(sorted({g.name for g in groups} - {g.name for g in bound})),
        )


@dataclass(frozen=True)
class CreatedHit:
    cost: HitCost
    posting: Posting


def read_study(session: Session, slug: str) -> StudyRef:
    study = get_study(session, slug)
    return StudyRef.of(study, bound_groups(session, study.id))


def require_live_spending(mode: str, confirm: str | None, action: str) -> None:
    """Refuse to spend in live mode unless the request said ``confirm: "live"``."""
    require_live_confirmation(
        mode,
        confirm,
        why=f"The study is in live mode: {action} spends real money.",
        when="for a live-mode study",
    )


def survey_url(study: StudyRef, given: str | None) -> str:
    url = given or study.survey_url
    if not url:
        raise ValidationFailed(
            "Give survey_url: the study has no survey URL of its own.",
            fields={"survey_url": ["is required (the study has none)"]},
        )
    return url


def exclusion_qualification_name(slug: str) -> str:
    return f"crowdgate {slug} participants"


def requirements(
    platform: str,
    values: Mapping[str, Any],
    exclusion_qualification_id: str | None,
    group_requirements: Sequence[tuple[str, str]] = (),
) -> tuple[Requirement, ...]:
    """Who may take the HITs: approval rate, locales, no excluding qualification, and
    the qualifications of the study's exclusion and include groups."""
    found: list[Requirement] = []
    if values.get("min_approval_rate") is not None:
        found.append(
            Requirement(
                get_platform(platform).system_qualifications["approval_rate"],
                "GreaterThanOrEqualTo",
                integer_values=(values["min_approval_rate"],),
            )
        )
    if values.get("locales"):
        found.append(
            Requirement(
                get_platform(platform).system_qualifications["locale"],
                "In",
                locale_values=tuple(_locale(code) for code in values["locales"]),
            )
        )
    excluded = list(values.get("exclude_qualification_type_ids") or ())
    if exclusion_qualification_id and exclusion_qualification_id not in excluded:
        excluded.append(exclusion_qualification_id)
    found.extend(Requirement(type_id, "DoesNotExist") for type_id in excluded)
    found.extend(
        Requirement(type_id, comparator)
        for type_id, comparator in group_requirements
        if type_id not in excluded
    )
    return tuple(found)


def _locale(code: str) -> dict[str, str]:
    country, _, subdivision = code.partition("-")
    return {"Country": country, **({"Subdivision": subdivision} if subdivision else {})}


def request_key(values: Mapping[str, Any], idempotency_key: str | None) -> str:
    """What tells a retried creation from a new one: the caller's key, else the request.

    Without a key, an identical request within the platform's token lifetime (24 hours
    on MTurk) finds the HITs of the first instead of paying for new ones.
    """
    if values.get("request_key"):
        return f"key:{values['request_key']}"
    if idempotency_key:
        return f"idempotency:{idempotency_key}"
    posted = {k: v for k, v in values.items() if k not in _ACTING_FIELDS}
    return "request:" + json.dumps(posted, sort_keys=True, default=str)


def unique_token(study: StudyRef, key: str, index: int) -> str:
    """The platform's idempotency token for one HIT of a request (64 characters at most)."""
    digest = hashlib.sha256(f"{study.id}\n{study.slug}\n{index}\n{key}".encode()).hexdigest()
    return f"crowdgate-{digest[:48]}"


def posting_request(
    values: Mapping[str, Any],
    *,
    url: str,
    cost: HitCost,
    requirements: Sequence[Requirement],
    token: str,
) -> PostingRequest:
    return PostingRequest(
        title=values["title"],
        description=values["description"],
        keywords=values["keywords"],
        reward=values["reward"],
        assignments=cost.assignments,
        lifetime_seconds=values["lifetime_seconds"],
        assignment_duration_seconds=values["assignment_duration_seconds"],
        auto_approval_delay_seconds=values["auto_approval_delay_seconds"],
        external_url=url,
        frame_height=values["frame_height"],
        requirements=tuple(requirements),
        unique_token=token,
        # The token also travels as the annotation: it names the request that made a HIT.
        annotation=token,
    )


def refuse_insufficient(plan: CostPlan, currency: str) -> None:
    if plan.sufficient is False:
        raise Conflict(
            f"The account holds {plan.balance} {currency}; these HITs cost {plan.total} "
            f"{currency}. Nothing was created.",
            code="insufficient_balance",
            extra={"balance": str(plan.balance), "total": str(plan.total)},
        )


def ensure_exclusion_qualification(db: Database, client: PlatformClient, study: StudyRef) -> str:
    """The study's exclusion qualification type, found by name or created, and stored.

    Looked up by its exact name first, so a retry after a lost answer (or a study
    whose stored id was lost) reuses the type instead of making a second one.
    """
    if study.exclusion_qualification_id:
        return study.exclusion_qualification_id
    name = exclusion_qualification_name(study.slug)
    found = client.find_qualification_type(name)
    if found is None:
        found = client.create_qualification_type(
            name,
            f"Took part in the crowdgate study {study.slug}; its HITs exclude holders so "
            "that no one takes part twice.",
        )
    with db.write() as session:
        row = get_study(session, study.slug, for_update=True)
        if row.exclusion_qualification_id is None:
            row.exclusion_qualification_id = found.id
        return row.exclusion_qualification_id


def record_hit(db: Database, slug: str, hit_id: str, *, now: datetime) -> None:
    """Add ``hit_id`` to the study's HITs (once), so sync and review find its workers."""
    with db.write() as session:
        row = get_study(session, slug, for_update=True)
        if hit_id not in (row.hit_ids or []):
            # A new list: the JSON column notices assignment, not changes in place.
            row.hit_ids = [*(row.hit_ids or []), hit_id]
            row.updated_at = now


def create_hits(
    db: Database,
    client: PlatformClient,
    study: StudyRef,
    plan: CostPlan,
    values: Mapping[str, Any],
    *,
    key: str,
    now: datetime,
) -> list[CreatedHit]:
    """Create the plan's HITs, recording each as it comes; a retry reuses the tokens."""
    exclusion = study.exclusion_qualification_id
    if plan.micro_batches:
        exclusion = ensure_exclusion_qualification(db, client, study)
    needs = requirements(study.platform, values, exclusion, study.group_requirements)
    url = survey_url(study, values.get("survey_url"))
    created: list[CreatedHit] = []
    for cost in plan.hits:
        request = posting_request(
            values,
            url=url,
            cost=cost,
            requirements=needs,
            token=unique_token(study, key, cost.index),
        )
        try:
            posting = client.create_posting(request)
        except PlatformError as exc:
            # Say what was made before the failure; the same request again finishes it.
            exc.extra["created_hit_ids"] = [c.posting.id for c in created]
            raise
        record_hit(db, study.slug, posting.id, now=now)
        created.append(CreatedHit(cost, posting))
    return created


def require_postings(platform: str) -> None:
    """Refuse, with the platform's own NotSupported (409), a study that cannot have HITs."""
    # Every platform with postings prices them; one without refuses to, saying why.
    get_platform(platform).posting_fee(Decimal("0.01"), 1)


def study_hit(study: StudyRef, hit_id: str) -> str:
    """``hit_id`` if it is one of the study's HITs; a 404 naming it otherwise."""
    if hit_id not in study.hit_ids:
        raise NotFound(
            f"HIT {hit_id!r} is not one of the study {study.slug!r}'s HITs.",
            code="hit_not_found",
            fields={"hit_id": ["is not a HIT of this study"]},
        )
    return hit_id


def extend_hit(
    client: PlatformClient,
    study: StudyRef,
    hit_id: str,
    values: Mapping[str, Any],
    *,
    now: datetime,
) -> Posting:
    study_hit(study, hit_id)
    expires_at = values.get("expires_at")
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(
            "expires_at is in the past: to stop a HIT, expire it.",
            fields={"expires_at": ["must be later than now"]},
        )
    if values.get("add_assignments"):
        require_live_spending(study.mode, values.get("confirm"), "adding assignments")
    client.extend_posting(
        hit_id, add_assignments=values.get("add_assignments") or 0, expires_at=expires_at
    )
    return client.get_posting(hit_id)


def expire_hit(client: PlatformClient, study: StudyRef, hit_id: str) -> Posting:
    study_hit(study, hit_id)
    client.expire_posting(hit_id)
    return client.get_posting(hit_id)


def list_hits(client: PlatformClient, study: StudyRef) -> list[Posting | tuple[str, str]]:
    """Each HIT as the platform reports it now, or (id, problem) when it cannot."""
    found: list[Posting | tuple[str, str]] = []
    for hit_id in study.hit_ids:
        try:
            found.append(client.get_posting(hit_id))
        except PlatformError as exc:
            # A HIT the platform has disposed of (MTurk: 120 days on) stays listed.
            found.append((hit_id, exc.message))
    return found


def problem_view(hit_id: str, problem: str) -> dict[str, Any]:
    """A HIT the platform could not report on, listed all the same."""
    return {
        "hit_id": hit_id,
        **dict.fromkeys(
            (
                "hit_type_id",
                "title",
                "status",
                "reward",
                "assignments",
                "available",
                "pending",
                "completed",
                "created_at",
                "expires_at",
                "worker_url",
            )
        ),
        "problem": problem,
    }


def posting_view(posting: Posting, worker_url: str | None) -> dict[str, Any]:
    return {
        "hit_id": posting.id,
        "hit_type_id": posting.type_id or None,
        "title": posting.title,
        "status": posting.status,
        "reward": posting.reward,
        "assignments": posting.assignments,
        "available": posting.available,
        "pending": posting.pending,
        "completed": posting.completed,
        "created_at": posting.created_at,
        "expires_at": posting.expires_at,
        "worker_url": worker_url,
        "problem": None,
    }
