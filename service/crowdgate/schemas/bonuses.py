"""Bonuses: what the caller asks to pay, the plan it gets back, and the ledger's rows."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crowdgate.domain.bonus_plans import MAX_REASON, REASONS
from crowdgate.schemas.common import PageArgsSchema
from crowdgate.schemas.money import Money

ID = validate.Length(min=1, max=128)
KEY = validate.Length(min=1, max=200)
STATES = ("pending", "sending", "sent", "failed")
STATE_KEY = validate.Regexp(
    r"^[A-Za-z0-9_.-]{1,100}\Z", error="a state key is 1 to 100 letters, digits, '_', '.' or '-'"
)


class BonusItemSchema(Schema):
    worker_id = fields.String(required=True, validate=ID)
    # Checked per item (refused with a reason code) rather than failing the request.
    amount = fields.Raw(
        required=True,
        metadata={"type": "string", "example": "0.50", "description": 'dollars, e.g. "0.50"'},
    )
    reason = fields.String(
        validate=validate.Length(max=MAX_REASON),
        metadata={"description": "what the worker reads; defaults to the request's reason"},
    )
    assignment_id = fields.String(
        validate=ID,
        metadata={"description": "defaults to the worker's assignment on record"},
    )
    key = fields.String(
        validate=KEY,
        metadata={
            "description": "tells distinct bonuses to one assignment apart; defaults to one "
            "derived from amount and reason, so the same item sent again is the same bonus"
        },
    )


class BonusRequestSchema(Schema):
    items = fields.List(
        fields.Nested(BonusItemSchema),
        validate=validate.Length(min=1, max=100_000),
        metadata={"description": "the bonuses; or give from_state instead"},
    )
    from_state = fields.String(
        validate=STATE_KEY,
        metadata={"description": "pay each participant the amount in this key of their state"},
    )
    reason = fields.String(
        validate=validate.Length(max=MAX_REASON),
        load_default="",
        metadata={"description": "the reason for items that give none (required with from_state)"},
    )
    dry_run = fields.Boolean(
        load_default=True, metadata={"description": "only show the plan (the default)"}
    )
    confirm = fields.String(metadata={"description": '"live" to pay bonuses in a live study'})

    @validates_schema
    def _one_source(self, data: dict[str, Any], **_: Any) -> None:
        if ("items" in data) == ("from_state" in data):
            raise ValidationError("give either items or from_state", "items")
        if "from_state" in data and not data["reason"].strip():
            raise ValidationError("is required with from_state: workers are told why", "reason")


def _line() -> fields.Integer:
    return fields.Integer(metadata={"description": "the item's line in an uploaded CSV file"})


class RefusedSchema(Schema):
    index = fields.Integer(metadata={"description": "the item's position in the request"})
    line = _line()
    worker_id = fields.String()
    assignment_id = fields.String(allow_none=True)
    amount = fields.String()
    key = fields.String(allow_none=True)
    code = fields.String(
        metadata={"description": "; ".join(f"{code}: {words}" for code, words in REASONS.items())}
    )
    detail = fields.String()


class PlannedSchema(Schema):
    index = fields.Integer()
    line = _line()
    worker_id = fields.String()
    assignment_id = fields.String()
    amount = Money()
    reason = fields.String()
    key = fields.String()
    existing_state = fields.String(
        allow_none=True, metadata={"description": "the ledger row's state when sent before"}
    )


class BonusPlanSchema(Schema):
    study = fields.String()
    dry_run = fields.Boolean()
    count = fields.Integer(metadata={"description": "new bonuses to pay"})
    total = Money(metadata={"description": "what the new bonuses pay workers"})
    fee = Money(metadata={"description": "the platform's fees on them"})
    cost = Money(metadata={"description": "total plus fee"})
    currency = fields.String()
    balance = Money(allow_none=True, metadata={"description": "the account's balance"})
    sufficient = fields.Boolean(metadata={"description": "whether the balance covers the cost"})
    existing = fields.Integer(metadata={"description": "items already in the ledger"})
    without_value = fields.Integer(
        metadata={"description": "with from_state: participants whose state lacks the key"}
    )
    refused = fields.List(fields.Nested(RefusedSchema))
    items = fields.List(fields.Nested(PlannedSchema))


class BonusSchema(Schema):
    id = fields.Integer()
    worker_id = fields.String()
    assignment_id = fields.String()
    amount = Money()
    reason = fields.String()
    key = fields.String()
    state = fields.String(metadata={"description": "pending, sending, sent or failed"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    platform_response = fields.Dict()
    job_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class BonusListArgsSchema(PageArgsSchema):
    state = fields.String(load_default=None, validate=validate.OneOf(STATES))
