"""The endpoints survey pages call during a survey: start, state and complete.

Answers are flat JSON objects so Qualtrics can map each field to embedded data, and
GET and form POST work alongside JSON.
"""

from __future__ import annotations

from typing import Any

from flask_restx import Namespace, Resource
from marshmallow import Schema

from crowdgate.api.auth import survey_study
from crowdgate.api.context import load, now, refuse_nul, state, survey_values
from crowdgate.api.cors import check_origin
from crowdgate.api.models import json_schema, model, query_params
from crowdgate.domain import participants, studies
from crowdgate.errors import ValidationFailed
from crowdgate.schemas.common import ErrorSchema
from crowdgate.schemas.participants import (
    CompleteResultSchema,
    StartArgsSchema,
    StartResultSchema,
    StateSchema,
)

ns = Namespace(
    "survey",
    path="/studies/<string:slug>/participants/<path:worker_id>",
    description="Called by survey pages with the study's survey key (or an admin key)",
)

error_model = model(ns, ErrorSchema, "Error")
start_args_model = model(ns, StartArgsSchema, "StartArgs")
start_model = model(ns, StartResultSchema, "StartResult")
complete_model = model(ns, CompleteResultSchema, "CompleteResult")
state_model = ns.schema_model("State", {**json_schema(StateSchema), "additionalProperties": True})

SECURITY = ["survey", "admin"]
START_ARGS = StartArgsSchema()
START_RESULT = StartResultSchema()
COMPLETE_RESULT = CompleteResultSchema()
EMPTY = Schema()


def _errors(*extra: tuple[int, str]) -> Any:
    def decorate(cls: Any) -> Any:
        for code, text in (
            (401, "No key or a wrong key"),
            (403, "The key does not reach this study, or the page's origin is not allowed"),
            (404, "No such study or worker"),
            (422, "Invalid input"),
            (429, "Rate limited"),
            *extra,
        ):
            cls = ns.response(code, text, error_model)(cls)
        return cls

    return decorate


def _start(slug: str, worker_id: str, *, with_body: bool) -> dict[str, Any]:
    args = load(START_ARGS, survey_values(with_body=with_body))
    prolific_pid = args.pop("PROLIFIC_PID", None)
    if prolific_pid is not None and prolific_pid != worker_id:
        # A page that put the wrong id in the path would otherwise record someone else.
        problem = f"is {prolific_pid!r} but the path names worker {worker_id!r}"
        raise ValidationFailed(
            f"PROLIFIC_PID {problem}.",
            code="worker_id_mismatch",
            fields={"PROLIFIC_PID": [problem]},
        )
    with state().db.write() as session:
        study, caller = survey_study(session, slug)
        check_origin(study)
        participant, resumed = participants.start(
            session, study, worker_id, now=now(), reveal_group=caller.admin, **args
        )
        return START_RESULT.dump({**_columns(participant), "resumed": resumed})


def _columns(participant: Any) -> dict[str, Any]:
    return {
        name: getattr(participant, name)
        for name in (
            "worker_id",
            "status",
            "condition",
            "attempt",
            "assignment_id",
            "hit_id",
            "session_id",
            "lease_expires_at",
            "completion_code",
        )
    }


@ns.route("/start")
@_errors(
    (
        409,
        "The worker may not start: reason already_participated, excluded (an exclusion "
        "group lists them) or not_included (an include group does not)",
    )
)
class Start(Resource):
    @ns.doc(security=SECURITY, params=query_params(StartArgsSchema))
    @ns.response(200, "Started or resumed", start_model)
    def get(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Start or resume a participant (for Qualtrics' Web Service element)."""
        return _start(slug, worker_id, with_body=False)

    @ns.doc(security=SECURITY)
    @ns.expect(start_args_model)
    @ns.response(200, "Started or resumed", start_model)
    def post(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Start or resume a participant and assign a condition."""
        return _start(slug, worker_id, with_body=True)


def _write_state(slug: str, worker_id: str, *, merge: bool) -> dict[str, Any]:
    values = survey_values(with_body=True)
    refuse_nul(values)
    with state().db.write() as session:
        study, _ = survey_study(session, slug)
        check_origin(study)
        participant = participants.write_state(
            session,
            study,
            worker_id,
            values,
            merge=merge,
            now=now(),
            max_bytes=state().max_state_bytes,
        )
        return dict(participant.state)


@ns.route("/state")
@_errors((413, "The state would exceed CROWDGATE_MAX_STATE_BYTES (64 KiB by default)"))
class State(Resource):
    @ns.doc(security=SECURITY)
    @ns.response(200, "The participant's state", state_model)
    def get(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Read the participant's free-form state."""
        load(EMPTY, survey_values(with_body=False))
        with state().db.read() as session:
            study, _ = survey_study(session, slug)
            check_origin(study)
            return dict(participants.get_participant(session, study, worker_id).state)

    @ns.doc(security=SECURITY)
    @ns.expect(state_model)
    @ns.response(200, "The new state", state_model)
    def put(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Replace the participant's state."""
        return _write_state(slug, worker_id, merge=False)

    @ns.doc(security=SECURITY)
    @ns.expect(state_model)
    @ns.response(200, "The merged state", state_model)
    def patch(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Merge top-level keys into the state; a null value removes its key."""
        return _write_state(slug, worker_id, merge=True)


@ns.route("/complete")
@_errors((409, "The participant cannot complete in its status"))
class Complete(Resource):
    @ns.doc(security=SECURITY)
    @ns.response(200, "Completed; calling again returns the same code", complete_model)
    def post(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Mark the participant complete; return their completion code and where to send them."""
        load(EMPTY, survey_values(with_body=True))
        with state().db.write() as session:
            study, _ = survey_study(session, slug)
            check_origin(study)
            participant = participants.complete(session, study, worker_id, now=now())
            assert participant.completion_code is not None
            redirect_url = studies.completion_redirect(
                study, worker_id, participant.completion_code
            )
            return COMPLETE_RESULT.dump({**_columns(participant), "redirect_url": redirect_url})
