"""Participants: the survey-facing start, state and completion, and the admin's view."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from crowdgate.domain import statuses

ID = validate.Length(min=1, max=128)


#: Prolific's URL parameters by the crowdgate field each stands for, so a survey can pass
#: on the parameters Prolific adds to its URL without renaming them.
PROLIFIC_NAMES = {"STUDY_ID": "hit_id", "SESSION_ID": "assignment_id"}


class StartArgsSchema(Schema):
    assignment_id = fields.String(
        validate=ID,
        load_default=None,
        metadata={"description": "the assignment or submission id; Prolific's SESSION_ID"},
    )
    hit_id = fields.String(
        validate=ID,
        load_default=None,
        metadata={"description": "the HIT or study id on the platform; Prolific's STUDY_ID"},
    )
    session_id = fields.String(validate=ID, load_default=None)
    STUDY_ID = fields.String(
        validate=ID, load_default=None, metadata={"description": "Prolific's name for hit_id"}
    )
    SESSION_ID = fields.String(
        validate=ID,
        load_default=None,
        metadata={"description": "Prolific's name for assignment_id"},
    )
    PROLIFIC_PID = fields.String(
        validate=ID,
        load_default=None,
        metadata={"description": "Prolific's participant id; when given, must be the path's"},
    )

    @validates_schema
    def _same_values(self, data: dict[str, Any], **_: Any) -> None:
        for prolific, own in PROLIFIC_NAMES.items():
            if data.get(prolific) and data.get(own) and data[prolific] != data[own]:
                message = f"{prolific} and {own} name the same id and differ"
                raise ValidationError({prolific: [message], own: [message]})

    @post_load
    def _own_names(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for prolific, own in PROLIFIC_NAMES.items():
            value = data.pop(prolific, None)
            data[own] = data.get(own) or value
        return data


class StartResultSchema(Schema):
    worker_id = fields.String()
    status = fields.String()
    condition = fields.String(allow_none=True)
    resumed = fields.Boolean(metadata={"description": "true when the worker had started before"})
    attempt = fields.Integer()
    assignment_id = fields.String(allow_none=True)
    hit_id = fields.String(allow_none=True)
    session_id = fields.String(allow_none=True)
    lease_expires_at = fields.DateTime(allow_none=True)
    completion_code = fields.String(
        allow_none=True, metadata={"description": "set when a completed worker starts again"}
    )


class CompleteResultSchema(Schema):
    worker_id = fields.String()
    status = fields.String()
    condition = fields.String(allow_none=True)
    completion_code = fields.String()
    redirect_url = fields.String(
        allow_none=True,
        metadata={
            "description": "where the page sends the participant now: the study's "
            "completion_redirect_url, or the platform's completion page; null for neither"
        },
    )


class StateSchema(Schema):
    """A participant's free-form state: any JSON object of at most 64 KiB."""

    class Meta:
        unknown = "include"


class EventSchema(Schema):
    status = fields.String()
    at = fields.DateTime()
    detail = fields.String()


class ParticipantSchema(Schema):
    worker_id = fields.String()
    attempt = fields.Integer()
    assignment_id = fields.String(allow_none=True)
    hit_id = fields.String(allow_none=True)
    session_id = fields.String(allow_none=True)
    condition = fields.String(allow_none=True)
    status = fields.String()
    completion_code = fields.String(allow_none=True)
    state = fields.Dict()
    lease_expires_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()
    platform_status = fields.String(
        allow_none=True, metadata={"description": "the submission's status on the platform"}
    )
    submitted_code = fields.String(
        allow_none=True, metadata={"description": "the code the worker typed into the HIT"}
    )
    answers = fields.Dict(
        allow_none=True, metadata={"description": "the HIT's answers, from the last sync"}
    )
    submitted_at = fields.DateTime(allow_none=True)
    reviewed_at = fields.DateTime(allow_none=True)


class ParticipantDetailSchema(ParticipantSchema):
    events = fields.List(fields.Nested(EventSchema))


class ParticipantFilterSchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(statuses.ALL))
    condition = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
