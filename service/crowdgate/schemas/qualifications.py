"""Qualification types on a platform: creating one, granting, revoking, listing holders."""

from __future__ import annotations

from collections import Counter
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crowdgate.domain.qualifications import FAILED, GRANTED, MAX_WORKERS, REVOKED
from crowdgate.platforms import PLATFORM_NAMES

MODES = ("sandbox", "live")
#: The range of a 32-bit integer, which is what MTurk keeps as a qualification's value.
INT32 = validate.Range(min=-(2**31), max=2**31 - 1)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("must not be blank")


def _platform() -> fields.String:
    return fields.String(
        required=True,
        validate=validate.OneOf(PLATFORM_NAMES),
        metadata={"description": "the platform the qualification type lives on"},
    )


def _mode() -> fields.String:
    return fields.String(
        required=True,
        validate=validate.OneOf(MODES),
        metadata={"description": "sandbox or live: each has its own qualification types"},
    )


def _worker_ids(what: str) -> fields.List:
    return fields.List(
        fields.String(),
        required=True,
        validate=validate.Length(min=1, max=MAX_WORKERS),
        metadata={"description": f"1 to {MAX_WORKERS} distinct worker ids to {what}"},
    )


def _distinct(worker_ids: list[str]) -> None:
    repeated = sorted(w for w, times in Counter(worker_ids).items() if times > 1)
    if repeated:
        raise ValidationError(f"has repeated worker ids: {', '.join(repeated)}", "worker_ids")


class QualificationTypeCreateSchema(Schema):
    platform = _platform()
    mode = _mode()
    name = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=256), _not_blank],
        metadata={"description": "unique among the account's qualification types"},
    )
    description = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=2000), _not_blank],
        metadata={"description": "what holding it means; workers can see it"},
    )
    reuse_existing = fields.Boolean(
        load_default=True,
        metadata={
            "description": "when a type of this exact name exists, answer it (200) instead "
            "of refusing (409)"
        },
    )


class QualificationTypeSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the platform's type id"})
    name = fields.String(required=True)
    description = fields.String(required=True)
    platform = fields.String(required=True)
    mode = fields.String(required=True)
    created = fields.Boolean(
        required=True, metadata={"description": "false when an existing type was reused"}
    )


class PlatformModeArgsSchema(Schema):
    platform = _platform()
    mode = _mode()


class QualifiedWorkerSchema(Schema):
    worker_id = fields.String(required=True)
    value = fields.Integer(required=True)
    granted_at = fields.AwareDateTime(allow_none=True)


class QualifiedWorkersSchema(Schema):
    items = fields.List(fields.Nested(QualifiedWorkerSchema), required=True)
    count = fields.Integer(required=True)


class GrantRequestSchema(Schema):
    platform = _platform()
    mode = _mode()
    worker_ids = _worker_ids("grant the qualification to")
    value = fields.Integer(
        strict=True,
        load_default=1,
        validate=INT32,
        metadata={"description": "the value each worker gets (a 32-bit whole number)"},
    )
    notify = fields.Boolean(
        load_default=False,
        metadata={"description": "have the platform tell each worker (MTurk e-mails them)"},
    )

    @validates_schema
    def _distinct_workers(self, data: dict[str, Any], **_: Any) -> None:
        _distinct(data.get("worker_ids") or [])


class RevocationRequestSchema(Schema):
    platform = _platform()
    mode = _mode()
    worker_ids = _worker_ids("revoke the qualification from")
    reason = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=1024), _not_blank],
        metadata={"description": "why; MTurk e-mails it to each worker"},
    )
    confirm = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": 'must be "live" to revoke in live mode'},
    )

    @validates_schema
    def _distinct_workers(self, data: dict[str, Any], **_: Any) -> None:
        _distinct(data.get("worker_ids") or [])


class WorkerFailureSchema(Schema):
    code = fields.String(required=True, metadata={"description": "crowdgate's error code"})
    message = fields.String(
        required=True, metadata={"description": "what went wrong, in the platform's words"}
    )
    platform_code = fields.String(
        allow_none=True, metadata={"description": "the platform's own code (TurkErrorCode)"}
    )
    retryable = fields.Boolean(
        required=True, metadata={"description": "asking again later may succeed (throttled, 5xx)"}
    )


def _results(done: str) -> type[Schema]:
    outcome = Schema.from_dict(
        {
            "worker_id": fields.String(required=True),
            "outcome": fields.String(required=True, validate=validate.OneOf((done, FAILED))),
            "error": fields.Nested(
                WorkerFailureSchema,
                metadata={"description": "why it failed; only on failed outcomes"},
            ),
        },
        name=f"{done.capitalize()}WorkerOutcome",
    )
    return Schema.from_dict(
        {
            "results": fields.List(
                fields.Nested(outcome),
                required=True,
                metadata={"description": "one per worker, in the order asked"},
            ),
            done: fields.Integer(required=True),
            FAILED: fields.Integer(required=True),
        },
        name=f"{done.capitalize()}Results",
    )


GrantResultsSchema = _results(GRANTED)
RevocationResultsSchema = _results(REVOKED)
