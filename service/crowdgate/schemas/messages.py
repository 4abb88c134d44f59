"""Messages: what the caller asks to send and to whom, the plan, and the ledger's rows."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crowdgate.domain import statuses
from crowdgate.domain.message_plans import OUTCOMES, REASONS
from crowdgate.schemas.common import PageArgsSchema

ID = validate.Length(min=1, max=128)
KEY = validate.Length(min=1, max=200)
STATES = ("pending", "sending", "sent", "failed")
#: Bounds on any platform; each platform's own, stricter limits are checked after.
MAX_SUBJECT = 1000
MAX_BODY = 100_000


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be empty")


class MessageRequestSchema(Schema):
    subject = fields.String(required=True, validate=[validate.Length(max=MAX_SUBJECT), _not_blank])
    body = fields.String(required=True, validate=[validate.Length(max=MAX_BODY), _not_blank])
    key = fields.String(
        validate=KEY,
        metadata={
            "description": "names the message; defaults to a digest of subject and body, so "
            "the same words sent again are the same message and reach only new workers"
        },
    )
    worker_ids = fields.List(
        fields.String(validate=ID),
        validate=validate.Length(min=1, max=100_000),
        metadata={"description": "the workers to message; or select by status and condition"},
    )
    status = fields.List(
        fields.String(validate=validate.OneOf(statuses.ALL)),
        validate=validate.Length(min=1),
        metadata={"description": "message the participants in any of these statuses"},
    )
    condition = fields.String(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "message the participants in this condition"},
    )
    dry_run = fields.Boolean(
        load_default=True, metadata={"description": "only show the plan (the default)"}
    )
    confirm = fields.String(metadata={"description": '"live" to message workers in a live study'})

    @validates_schema
    def _one_selection(self, data: dict[str, Any], **_: Any) -> None:
        filters = "status" in data or "condition" in data
        if ("worker_ids" in data) == filters:
            raise ValidationError(
                "give worker_ids, or status and/or condition (one way to choose workers)",
                "worker_ids",
            )


class RefusedWorkerSchema(Schema):
    index = fields.Integer(metadata={"description": "the worker's position in worker_ids"})
    worker_id = fields.String()
    code = fields.String(
        metadata={"description": "; ".join(f"{code}: {words}" for code, words in REASONS.items())}
    )
    detail = fields.String()


class MessagePlanSchema(Schema):
    study = fields.String()
    dry_run = fields.Boolean()
    key = fields.String()
    message_id = fields.Integer(
        allow_none=True, metadata={"description": "the message, when it was sent before"}
    )
    count = fields.Integer(metadata={"description": "workers a send would message now"})
    recipients = fields.List(
        fields.String(), metadata={"description": "their ids (the first 1000)"}
    )
    recipients_truncated = fields.Boolean(
        metadata={"description": "true when recipients lists only the first 1000"}
    )
    already_sent = fields.Integer(metadata={"description": "selected workers it reached before"})
    already_failed = fields.Integer(
        metadata={"description": "selected workers it failed for before (never sent again)"}
    )
    in_progress = fields.Integer(
        metadata={"description": "selected workers another running job is messaging now"}
    )
    refused = fields.List(fields.Nested(RefusedWorkerSchema))


class MessageSchema(Schema):
    id = fields.Integer()
    key = fields.String()
    subject = fields.String()
    body = fields.String()
    created_at = fields.DateTime()
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "recipients by outcome (sent, soft_failure, hard_failure, unclear) "
            "or, not yet settled, by state (pending, sending)"
        },
    )


class MessageRecipientSchema(Schema):
    id = fields.Integer()
    worker_id = fields.String()
    state = fields.String(metadata={"description": "pending, sending, sent or failed"})
    outcome = fields.String(
        allow_none=True, metadata={"description": "sent, soft_failure, hard_failure or unclear"}
    )
    platform_code = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    job_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class RecipientListArgsSchema(PageArgsSchema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))
    outcome = fields.String(load_default=None, validate=validate.OneOf(OUTCOMES))
