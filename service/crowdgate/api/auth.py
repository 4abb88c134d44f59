"""Who is calling: an admin key (Bearer) or a study's survey key, and what each may reach."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import request
from sqlalchemy.orm import Session

from crowdgate.api.context import state
from crowdgate.db import SingleReads
from crowdgate.domain.keys import hash_key, is_admin_key
from crowdgate.domain.studies import SLUG_PATTERN, find_study_by_survey_key, get_study
from crowdgate.domain.survey_reads import BY_KEY_HASH, BY_SLUG
from crowdgate.errors import Forbidden, NotFound, Unauthorized
from crowdgate.models import Study


@dataclass(frozen=True)
class Caller:
    admin: bool
    study: Study | None = None  # the survey key's study


def survey_key_given() -> str | None:
    key = request.headers.get("X-Survey-Key") or request.args.get("key")
    if key is None and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        key = request.form.get("key")
    return key or None


def _admin_or_survey_key(session: Session | None) -> str | None:
    """The survey key the caller sent; None when a valid admin key was sent instead.

    ``session`` checks an admin key; None only when no Authorization header was sent.
    """
    header = request.headers.get("Authorization", "")
    if header:
        assert session is not None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "Send admin keys as 'Authorization: Bearer KEY'.", code="bad_authorization"
            )
        if not is_admin_key(session, token.strip()):
            raise Unauthorized("The admin key is not valid (or was revoked).", code="invalid_key")
        return None
    key = survey_key_given()
    if key is None:
        raise Unauthorized(
            "Send an admin key as 'Authorization: Bearer KEY' or a study's "
            "survey key as the X-Survey-Key header or the key parameter.",
            code="missing_key",
        )
    return key


def _invalid_survey_key() -> Unauthorized:
    return Unauthorized(
        "The survey key is not valid (it may have been rotated).", code="invalid_key"
    )


def _wrong_study() -> Forbidden:
    # Not a 404: a survey key must not learn which other studies exist.
    return Forbidden("This survey key belongs to another study.", code="wrong_study")


def authenticate(session: Session) -> Caller:
    key = _admin_or_survey_key(session)
    if key is None:
        return Caller(admin=True)
    study = find_study_by_survey_key(session, key)
    if study is None:
        raise _invalid_survey_key()
    return Caller(admin=False, study=study)


def require_admin(session: Session) -> Caller:
    caller = authenticate(session)
    if not caller.admin:
        raise Forbidden(
            "A survey key reaches only its study's survey endpoints; this one needs an admin key.",
            code="admin_key_required",
        )
    return caller


def survey_study(session: Session, slug: str) -> tuple[Study, Caller]:
    """The study a survey endpoint acts on, if the caller's key reaches it."""
    caller = authenticate(session)
    if caller.admin:
        return get_study(session, slug), caller
    assert caller.study is not None
    if caller.study.slug != slug:
        raise _wrong_study()
    return caller.study, caller


#: What a survey read returns: the study first, then whatever the statement read with it.
Found = TypeVar("Found", bound=tuple[Any, ...])


def survey_read(
    slug: str, read: Callable[[SingleReads, str, str], Found | None]
) -> tuple[Found, bool]:
    """Run one of survey_reads' statements for the study the caller's key reaches.

    Returns what the statement read (the study first) and whether the caller is an
    admin. The same refusals as survey_study: 401 for a bad key, 403 for another
    study's survey key, 404 for an unknown slug (admin keys only).
    """
    db = state().db
    if "Authorization" in request.headers:
        with db.read() as session:
            key = _admin_or_survey_key(session)
    else:
        key = _admin_or_survey_key(None)
    with db.single_reads() as reads:
        if key is None:
            found = read(reads, BY_SLUG, slug) if SLUG_PATTERN.fullmatch(slug) else None
            if found is None:
                raise NotFound(f"No study has the slug {slug!r}.", code="study_not_found")
        else:
            found = read(reads, BY_KEY_HASH, hash_key(key))
            if found is None:
                raise _invalid_survey_key()
            if found[0].slug != slug:
                raise _wrong_study()
    return found, key is None
