"""Participants: the survey-facing start, state and completion, and the admin's view."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crowdgate.domain import statuses

ID = validate.Length(min=1, max=128)


class StartArgsSchema(Schema):
    assignment_id = fields.String(validate=ID, load_default=None)
    hit_id = fields.String(validate=ID, load_default=None)
    session_id = fields.String(validate=ID, load_default=None)


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
