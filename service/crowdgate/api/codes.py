"""Completion-code checks and eligibility, for pages and for admins."""

from __future__ import annotations

from flask.wrappers import Response
from flask_restx import Namespace, Resource

from crowdgate.api.auth import survey_read
from crowdgate.api.context import json_response, load, survey_values
from crowdgate.api.cors import check_origin
from crowdgate.api.models import model, query_params
from crowdgate.domain import participants
from crowdgate.domain.completion_codes import normalise_code
from crowdgate.domain.survey_reads import study_and_code_owner, study_and_latest_attempt
from crowdgate.errors import ValidationFailed
from crowdgate.schemas.codes import (
    EligibilityArgsSchema,
    EligibilityResultSchema,
    VerifyArgsSchema,
    VerifyResultSchema,
)
from crowdgate.schemas.common import ErrorSchema

ns = Namespace(
    "codes",
    path="/studies/<string:slug>",
    description="Completion codes and eligibility (survey or admin keys)",
)

error_model = model(ns, ErrorSchema, "Error")
verify_args_model = model(ns, VerifyArgsSchema, "VerifyArgs")
verify_model = model(ns, VerifyResultSchema, "VerifyResult")
eligibility_model = model(ns, EligibilityResultSchema, "EligibilityResult")
SECURITY = ["survey", "admin"]

# marshmallow schemas hold no per-call state: made once, not per request.
VERIFY_ARGS = VerifyArgsSchema()
VERIFY_RESULT = VerifyResultSchema()
ELIGIBILITY_ARGS = EligibilityArgsSchema()
ELIGIBILITY_RESULT = EligibilityResultSchema()


def _verify(slug: str, *, with_body: bool) -> Response:
    args = load(VERIFY_ARGS, survey_values(with_body=with_body))
    code = normalise_code(args["code"])
    (study, owner), admin = survey_read(
        slug, lambda reads, by, selector: study_and_code_owner(reads, by, selector, code)
    )
    check_origin(study)
    if not admin and args["worker_id"] is None:
        raise ValidationFailed(
            "worker_id is required with a survey key: a page may only check a worker's own code.",
            fields={"worker_id": ["required with a survey key"]},
        )
    result = participants.verify_code(study, owner, args["worker_id"], as_admin=admin)
    return json_response(VERIFY_RESULT.dump(result))


@ns.route("/codes/verify")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "The key does not reach this study", error_model)
@ns.response(422, "Invalid input", error_model)
class Verify(Resource):
    @ns.doc(security=SECURITY, params=query_params(VerifyArgsSchema))
    @ns.response(200, "Whether the code is valid", verify_model)
    def get(self, slug: str) -> Response:
        """Check a completion code (for Qualtrics' Web Service element)."""
        return _verify(slug, with_body=False)

    @ns.doc(security=SECURITY)
    @ns.expect(verify_args_model)
    @ns.response(200, "Whether the code is valid", verify_model)
    def post(self, slug: str) -> Response:
        """Check a completion code; with a survey key, only against the given worker."""
        return _verify(slug, with_body=True)


@ns.route("/eligibility")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "The key does not reach this study", error_model)
@ns.response(422, "Invalid input", error_model)
class Eligibility(Resource):
    @ns.doc(security=SECURITY, params=query_params(EligibilityArgsSchema))
    @ns.response(200, "Whether the worker may start", eligibility_model)
    def get(self, slug: str) -> Response:
        """Whether a worker may take part (before they start)."""
        args = load(ELIGIBILITY_ARGS, survey_values(with_body=False))
        worker_id = args["worker_id"]
        (study, latest, groups), admin = survey_read(
            slug,
            lambda reads, by, selector: study_and_latest_attempt(reads, by, selector, worker_id),
        )
        check_origin(study)
        eligible, reason, group = participants.eligibility(
            study, worker_id, latest, groups, args["assignment_id"]
        )
        answer = {"worker_id": worker_id, "eligible": eligible, "reason": reason}
        if admin and group is not None:
            answer["group"] = group  # which group is the researcher's to know, not the page's
        return json_response(ELIGIBILITY_RESULT.dump(answer))
