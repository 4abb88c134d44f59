"""Admin endpoints for studies."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from crowdgate.api.auth import require_admin
from crowdgate.api.context import cursor_after, json_body, load, now, state
from crowdgate.api.models import model, query_params
from crowdgate.domain import sealing, studies
from crowdgate.domain.exclusion_groups import EXCLUDE, INCLUDE, RECORD, study_group_names
from crowdgate.errors import Conflict, ValidationFailed
from crowdgate.models import Study
from crowdgate.schemas.common import ErrorSchema, PageArgsSchema, page_of
from crowdgate.schemas.studies import (
    StudyCreatedSchema,
    StudyCreateSchema,
    StudyFieldsSchema,
    StudySchema,
    SurveyKeySchema,
)


def dump_studies(session: Session, found: list[Study]) -> list[dict[str, Any]]:
    """Studies as the API shows them, with the names of the groups each uses."""
    names = study_group_names(session, [s.id for s in found])
    return [
        {
            **StudySchema().dump(study),
            "platform_token_set": study.platform_token_sealed is not None,
            "exclusion_groups": names[study.id][EXCLUDE],
            "include_groups": names[study.id][INCLUDE],
            "recorded_in": names[study.id][RECORD],
        }
        for study in found
    ]


def _sealed(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with a given platform_token sealed (it is kept only so)."""
    if "platform_token" not in values:
        return values
    token = values.pop("platform_token")
    if token is None:
        return {**values, "platform_token_sealed": None}
    token = token.strip()
    if not token:
        raise ValidationFailed(
            "platform_token is blank: give the token, or null to use crowdgate's.",
            fields={"platform_token": ["is blank"]},
        )
    key = current_app.config.get(SECRET_KEY)
    if not key:
        raise Conflict(
            f"A study can hold its own platform token only when {SECRET_KEY} is set: "
            "crowdgate keeps tokens sealed with it.",
            code="secret_key_not_set",
            fields={"platform_token": [f"needs {SECRET_KEY} set where crowdgate runs"]},
        )
    return {**values, "platform_token_sealed": sealing.seal(str(key), token)}


def dump_study(session: Session, study: Study) -> dict[str, Any]:
    return dump_studies(session, [study])[0]


SECRET_KEY = "CROWDGATE_SECRET_KEY"

ns = Namespace("studies", path="/studies", description="Studies (admin keys)")

error_model = model(ns, ErrorSchema, "Error")
study_model = model(ns, StudySchema)
create_model = model(ns, StudyCreateSchema)
update_model = model(ns, StudyFieldsSchema, "StudyUpdate")
created_model = model(ns, StudyCreatedSchema)
page_model = model(ns, page_of(StudySchema, "StudyPage"), "StudyPage")
key_model = model(ns, SurveyKeySchema, "SurveyKey")


@ns.route("")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
class StudyList(Resource):
    @ns.doc(security="admin", params=query_params(PageArgsSchema))
    @ns.response(200, "A page of studies", page_model)
    def get(self) -> dict[str, Any]:
        """List studies, oldest first."""
        with state().db.read() as session:
            require_admin(session)
            args = load(PageArgsSchema(), request.args)
            found = studies.list_studies(
                session, after=cursor_after(args["cursor"]), limit=args["limit"]
            )
            return {
                "items": dump_studies(session, found),
                "next_cursor": str(found[-1].id) if len(found) == args["limit"] else None,
            }

    @ns.doc(security="admin")
    @ns.expect(create_model)
    @ns.response(201, "Created; survey_key is shown only now", created_model)
    @ns.response(409, "The slug is taken", error_model)
    @ns.response(422, "Invalid fields", error_model)
    def post(self) -> tuple[dict[str, Any], int]:
        """Create a study and its survey key."""
        values = _sealed(load(StudyCreateSchema(), json_body()))
        with state().db.write() as session:
            require_admin(session)
            study, key = studies.create_study(
                session, values, now=now(), default_lease_minutes=state().default_lease_minutes
            )
            return {**dump_study(session, study), "survey_key": key}, 201


@ns.route("/<string:slug>")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class StudyItem(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The study", study_model)
    def get(self, slug: str) -> dict[str, Any]:
        """Read a study."""
        with state().db.read() as session:
            require_admin(session)
            return dump_study(session, studies.get_study(session, slug))

    @ns.doc(security="admin")
    @ns.expect(update_model)
    @ns.response(200, "The updated study", study_model)
    @ns.response(409, "The change contradicts the participants' record", error_model)
    @ns.response(422, "Invalid fields", error_model)
    def patch(self, slug: str) -> dict[str, Any]:
        """Change some of a study's settings."""
        changes = _sealed(load(StudyFieldsSchema(), json_body()))
        with state().db.write() as session:
            require_admin(session)
            study = studies.get_study(session, slug, for_update=True)
            studies.update_study(session, study, changes, now=now())
            return dump_study(session, study)


@ns.route("/<string:slug>/survey-key")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class SurveyKey(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The new survey key; the old one stops working now", key_model)
    def post(self, slug: str) -> dict[str, Any]:
        """Replace the study's survey key."""
        with state().db.write() as session:
            require_admin(session)
            study = studies.get_study(session, slug, for_update=True)
            return {"slug": study.slug, "survey_key": studies.rotate_survey_key(study, now=now())}
