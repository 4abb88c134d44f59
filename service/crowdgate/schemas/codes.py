"""Completion-code verification and eligibility: flat answers a page can map to embedded data."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class VerifyArgsSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    worker_id = fields.String(
        load_default=None,
        metadata={"description": "required with a survey key"},
    )


class VerifyResultSchema(Schema):
    valid = fields.Boolean()
    reason = fields.String(metadata={"description": "unknown_code, other_worker or no_match"})
    worker_id = fields.String(allow_none=True)
    code_worker_id = fields.String(metadata={"description": "admin keys only"})
    status = fields.String(metadata={"description": "admin keys only"})
    condition = fields.String(allow_none=True, metadata={"description": "admin keys only"})


class EligibilityArgsSchema(Schema):
    # Its form is the platform's to judge (invalid_worker_id), as on every other endpoint.
    worker_id = fields.String(required=True)
    assignment_id = fields.String(load_default=None, validate=validate.Length(min=1, max=128))


class EligibilityResultSchema(Schema):
    worker_id = fields.String()
    eligible = fields.Boolean()
    reason = fields.String(
        metadata={
            "description": "new, resume, repeats_allowed, already_participated, excluded "
            "(an exclusion group lists the worker) or not_included (an include group does not)"
        }
    )
    group = fields.String(
        metadata={"description": "admin keys only: the group behind excluded or not_included"}
    )
