"""Jobs as the API shows them."""

from __future__ import annotations

from marshmallow import Schema, fields


class JobSchema(Schema):
    job_id = fields.String(attribute="id", required=True)
    kind = fields.String(required=True, metadata={"description": "sync, review, ..."})
    study = fields.String(allow_none=True, metadata={"description": "the study's slug"})
    state = fields.String(
        required=True, metadata={"description": "queued, running, succeeded, failed or cancelled"}
    )
    total = fields.Integer(metadata={"description": "items the job has found to do so far"})
    done = fields.Integer()
    failed = fields.Integer()
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "counts particular to the kind (added, updated, unchanged...)"},
    )
    result = fields.Dict(metadata={"description": "a summary of what the job did"})
    error = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    cancel_requested = fields.Boolean(
        metadata={
            "description": "a cancel was asked for; a running job stops before its next batch"
        }
    )
    rate_per_second = fields.Float(
        allow_none=True,
        metadata={"description": "items finished per second since the job (re)started"},
    )
    eta_seconds = fields.Float(
        allow_none=True,
        metadata={"description": "seconds left at that rate; null until it can be estimated"},
    )
