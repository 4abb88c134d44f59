"""Studies: creation, updates and survey keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from string import Formatter
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from crowdgate.domain.exclusion_groups import STUDY_FIELDS, set_study_groups
from crowdgate.domain.keys import hash_key, new_survey_key
from crowdgate.errors import Conflict, NotFound, ValidationFailed
from crowdgate.models import Participant, Study
from crowdgate.platforms import get_platform

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\Z")
#: Platforms' completion codes are short visible ASCII (Prolific's are like "C1A2B3C4").
COMPLETION_CODE_PATTERN = re.compile(r"[!-~]{1,64}\Z")
#: What a completion_redirect_url may put in its URL, each URL-encoded.
REDIRECT_PLACEHOLDERS = ("completion_code", "worker_id", "study")


def redirect_template_problem(template: str) -> str | None:
    """What is wrong with a completion_redirect_url template, in words, or None."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in REDIRECT_PLACEHOLDERS or spec or conversion:
            return f"has an unknown placeholder {{{name}}}; use " + ", ".join(
                f"{{{known}}}" for known in REDIRECT_PLACEHOLDERS
            )
    literal = "".join(text for text, *_ in parts)
    split = urlsplit(literal)
    if split.scheme.lower() not in ("https", "http") or not split.netloc:
        return "must be an https:// or http:// URL with a host"
    if any(c.isspace() for c in template):
        return "must not contain spaces; URL-encode them"
    return None


def completion_redirect(study: Study, worker_id: str, completion_code: str) -> str | None:
    """Where a participant who finished the study is sent: the study's own URL template
    filled in, else the platform's page for the study's completion code, else None."""
    if study.completion_redirect_url:
        values = {"completion_code": completion_code, "worker_id": worker_id, "study": study.slug}
        return study.completion_redirect_url.format(
            **{name: quote(value, safe="") for name, value in values.items()}
        )
    if study.platform_completion_code:
        return get_platform(study.platform).completion_url(study.platform_completion_code)
    return None


def get_study(session: Session, slug: str, *, for_update: bool = False) -> Study:
    if not SLUG_PATTERN.fullmatch(slug):
        raise NotFound(f"No study has the slug {slug!r}.", code="study_not_found")
    query = select(Study).where(Study.slug == slug)
    if for_update:
        query = query.with_for_update()
    study = session.scalar(query)
    if study is None:
        raise NotFound(f"No study has the slug {slug!r}.", code="study_not_found")
    return study


def allowed_origins(session: Session, slug: str) -> list[str] | None:
    """The origins a study admits, or None when no study has that slug."""
    if not SLUG_PATTERN.fullmatch(slug):
        return None
    return session.scalar(select(Study.allowed_origins).where(Study.slug == slug))


_BY_SURVEY_KEY = select(Study).where(Study.survey_key_hash == bindparam("key_hash"))


def find_study_by_survey_key(session: Session, key: str) -> Study | None:
    return session.scalar(_BY_SURVEY_KEY, {"key_hash": hash_key(key)})


def create_study(
    session: Session, values: Mapping[str, Any], *, now: datetime, default_lease_minutes: int
) -> tuple[Study, str]:
    """Create a study and return it with its survey key, which is shown only now."""
    if session.scalar(select(Study.id).where(Study.slug == values["slug"])) is not None:
        raise Conflict(
            f"A study with the slug {values['slug']!r} exists already.",
            code="slug_taken",
            fields={"slug": ["is taken"]},
        )
    _check_account(
        values.get("platform", "none"),
        values.get("platform_token_sealed"),
        values.get("platform_workspace_id"),
    )
    key = new_survey_key()
    study = Study(
        slug=values["slug"],
        title=values.get("title", ""),
        platform=values.get("platform", "none"),
        mode=values.get("mode", "sandbox"),
        conditions=[dict(c) for c in values.get("conditions", [])],
        lease_minutes=values.get("lease_minutes") or default_lease_minutes,
        allow_repeats=values.get("allow_repeats", False),
        allowed_origins=list(values.get("allowed_origins", [])),
        hit_ids=list(values.get("hit_ids", [])),
        code_answer_field=values.get("code_answer_field")
        or get_platform(values.get("platform", "none")).code_answer_field,
        bonus_cap_per_worker=values.get("bonus_cap_per_worker"),
        bonus_budget=values.get("bonus_budget"),
        platform_completion_code=values.get("platform_completion_code"),
        completion_redirect_url=values.get("completion_redirect_url"),
        platform_token_sealed=values.get("platform_token_sealed"),
        platform_workspace_id=values.get("platform_workspace_id"),
        survey_key_hash=hash_key(key),
        created_at=now,
        updated_at=now,
    )
    session.add(study)
    session.flush()
    _set_groups(session, study, values)
    return study, key


def _set_groups(session: Session, study: Study, values: Mapping[str, Any]) -> None:
    for role, name in STUDY_FIELDS.items():
        if name in values:
            set_study_groups(session, study, role, values[name])


def update_study(
    session: Session, study: Study, changes: Mapping[str, Any], *, now: datetime
) -> Study:
    """Apply ``changes``, refusing those that would contradict the participants' record."""
    has_participants = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.study_id == study.id)
    )
    if "platform" in changes and changes["platform"] != study.platform and has_participants:
        raise Conflict(
            "The platform cannot change once participants have started: their worker ids "
            "belong to the old one.",
            code="study_has_participants",
            fields={"platform": ["cannot change after participants started"]},
        )
    _check_account(
        changes.get("platform", study.platform),
        changes.get("platform_token_sealed", study.platform_token_sealed),
        changes.get("platform_workspace_id", study.platform_workspace_id),
    )
    if "conditions" in changes:
        kept = {c["name"] for c in changes["conditions"]}
        held: set[str] = set(
            session.scalars(
                select(Participant.condition)
                .where(Participant.study_id == study.id, Participant.condition.is_not(None))
                .distinct()
            )
        )
        if held - kept:
            raise Conflict(
                "Participants hold conditions the update removes: "
                + ", ".join(sorted(held - kept)),
                code="condition_in_use",
                fields={
                    "conditions": [
                        f"{name!r} is held by participants" for name in sorted(held - kept)
                    ]
                },
            )
    _set_groups(session, study, changes)
    for name, value in changes.items():
        if name in STUDY_FIELDS.values():
            continue
        if name == "conditions":
            value = [dict(c) for c in value]
        elif name in ("hit_ids", "allowed_origins"):
            value = list(value)
        setattr(study, name, value)
    study.updated_at = now
    return study


def _check_account(platform: str, token_sealed: str | None, workspace_id: str | None) -> None:
    """Refuse a study's own token or workspace on a platform that takes neither."""
    if get_platform(platform).study_accounts:
        return
    for name, value in (("platform_token", token_sealed), ("platform_workspace_id", workspace_id)):
        if value is not None:
            raise ValidationFailed(
                f"Studies on {platform!r} use the credentials of crowdgate's settings; "
                f"{name} is for platforms with API tokens (Prolific).",
                fields={name: [f"not taken by {platform!r} studies"]},
            )


def rotate_survey_key(study: Study, *, now: datetime) -> str:
    key = new_survey_key()
    study.survey_key_hash = hash_key(key)
    study.updated_at = now
    return key


def list_studies(session: Session, *, after: int | None, limit: int) -> list[Study]:
    query = select(Study).order_by(Study.id).limit(limit)
    if after is not None:
        query = query.where(Study.id > after)
    return list(session.scalars(query))
