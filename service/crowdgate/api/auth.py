"""Who is calling: an admin key (Bearer) or a study's survey key, and what each may reach."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request
from sqlalchemy.orm import Session

from crowdgate.domain.keys import find_admin_key
from crowdgate.domain.studies import find_study_by_survey_key, get_study
from crowdgate.errors import Forbidden, Unauthorized
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


def authenticate(session: Session) -> Caller:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "Send admin keys as 'Authorization: Bearer KEY'.", code="bad_authorization"
            )
        if find_admin_key(session, token.strip()) is None:
            raise Unauthorized("The admin key is not valid (or was revoked).", code="invalid_key")
        return Caller(admin=True)
    key = survey_key_given()
    if key is None:
        raise Unauthorized(
            "Send an admin key as 'Authorization: Bearer KEY' or a study's "
            "survey key as the X-Survey-Key header or the key parameter.",
            code="missing_key",
        )
    study = find_study_by_survey_key(session, key)
    if study is None:
        raise Unauthorized(
            "The survey key is not valid (it may have been rotated).", code="invalid_key"
        )
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
        # Not a 404: a survey key must not learn which other studies exist.
        raise Forbidden("This survey key belongs to another study.", code="wrong_study")
    return caller.study, caller
