"""Review and reconciliation: what the caller asks for, and the plan it gets."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crowdgate.domain.review_plans import ACTIONS
from crowdgate.domain.review_plans import REASONS as REASON_WORDS

#: MTurk's limit on RequesterFeedback.
FEEDBACK = validate.Length(max=1024)
FORMAT = fields.String(
    load_default="json",
    validate=validate.OneOf(("json", "csv")),
    metadata={"description": "csv for the plan as a spreadsheet (or send Accept: text/csv)"},
)


class ReviewRequestSchema(Schema):
    dry_run = fields.Boolean(
        load_default=True, metadata={"description": "only show the plan (the default)"}
    )
    feedback = fields.String(
        load_default="", validate=FEEDBACK, metadata={"description": "sent with approvals"}
    )
    reject_invalid = fields.Boolean(
        load_default=False,
        metadata={"description": "also reject submissions whose code nobody was given"},
    )
    reject_feedback = fields.String(
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "sent with rejections; required with reject_invalid"},
    )
    rejection_category = fields.String(
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": "the platform's reason code sent with rejections, where it has "
            "them (Prolific: BAD_CODE, NO_CODE, OTHER, ...; OTHER when left out); "
            "MTurk ignores it"
        },
    )
    confirm = fields.String(metadata={"description": '"live" to review a live study for real'})
    format = FORMAT

    @validates_schema
    def _feedback_for_rejections(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("reject_invalid") and not data.get("dry_run", True):
            if not (data.get("reject_feedback") or "").strip():
                raise ValidationError(
                    "is required to reject: workers are told why", "reject_feedback"
                )


class PlanItemSchema(Schema):
    assignment_id = fields.String(required=True)
    worker_id = fields.String(required=True)
    hit_id = fields.String(allow_none=True)
    code = fields.String(allow_none=True, metadata={"description": "as the worker typed it"})
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    reason = fields.String(
        required=True,
        metadata={
            "description": "; ".join(f"{name}: {words}" for name, words in REASON_WORDS.items())
        },
    )
    detail = fields.String()


class PlanCountsSchema(Schema):
    approve = fields.Integer()
    reject = fields.Integer()
    flag = fields.Integer()


class PlanSchema(Schema):
    study = fields.String(allow_none=True)
    dry_run = fields.Boolean()
    items = fields.List(fields.Nested(PlanItemSchema), required=True)
    counts = fields.Nested(PlanCountsSchema, required=True)
    reasons = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "how many items have each reason"},
    )
    total = fields.Integer(required=True)


class JobStartedSchema(Schema):
    job_id = fields.String(required=True)
    state = fields.String(required=True)
    job = fields.Dict(metadata={"description": "the job as GET /jobs/{job_id} shows it"})


class ReconcileFormSchema(Schema):
    code_column = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the survey file's column holding the code (e.g. Random ID)"},
    )
    worker_column = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the survey file's column holding the worker id, if any"},
    )
    batch_code_column = fields.String(
        load_default="Answer.surveycode",
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the batch file's column holding the typed code"},
    )
    format = FORMAT
