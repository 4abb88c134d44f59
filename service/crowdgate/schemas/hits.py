"""HITs of a study: the creation request, its cost preview, extend/expire and the list."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crowdgate.schemas.money import Money

DAY = 24 * 60 * 60
YEAR = 365 * DAY
POSTING_ID = validate.Regexp(
    r"^[A-Za-z0-9_-]{1,64}\Z", error="is not a platform id (1 to 64 letters, digits, - and _)"
)
LOCALE = validate.Regexp(
    r"^[A-Z]{2}(-[A-Z0-9]{2})?\Z",
    error='use an ISO 3166 country code, optionally with a subdivision: "US" or "US-NY"',
)
CONFIRM_HELP = 'must be "live" to act in a live-mode study'


def _seconds(low: int, high: int, default: int, what: str) -> fields.Integer:
    return fields.Integer(
        strict=True,
        load_default=default,
        validate=validate.Range(min=low, max=high),
        metadata={"description": f"{what}, in seconds ({low} to {high})"},
    )


class HitCreateSchema(Schema):
    """A HIT request: previewed by default, created with ``dry_run: false``."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=128))
    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    keywords = fields.String(load_default="", validate=validate.Length(max=1000))
    reward = Money(
        required=True,
        validate=validate.Range(min=Decimal("0.01"), max=Decimal("10000.00")),
        metadata={"description": "per assignment, in USD, at least 0.01"},
    )
    assignments = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=100_000)
    )
    lifetime_seconds = _seconds(60, YEAR, 7 * DAY, "how long the HIT can be found")
    assignment_duration_seconds = _seconds(30, YEAR, 60 * 60, "how long a worker has")
    auto_approval_delay_seconds = _seconds(
        0, 30 * DAY, 3 * DAY, "after submission, when the platform approves by itself"
    )
    survey_url = fields.Url(
        load_default=None,
        schemes={"https"},
        require_tld=False,
        validate=validate.Length(max=2000),
        metadata={"description": "the page workers see in a frame; https only"},
    )
    frame_height = fields.Integer(
        strict=True,
        load_default=0,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "pixels; 0 lets the page fill the window"},
    )
    min_approval_rate = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, max=100),
        metadata={"description": "percent of a worker's assignments approved, at least"},
    )
    locales = fields.List(
        fields.String(validate=LOCALE),
        load_default=list,
        validate=validate.Length(max=30),
        metadata={"description": 'countries (and subdivisions) workers live in: ["US", "CA"]'},
    )
    exclude_qualification_type_ids = fields.List(
        fields.String(validate=POSTING_ID),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "workers holding any of these cannot take the HIT"},
    )
    micro_batches = fields.Boolean(
        load_default=False,
        metadata={"description": "split into HITs of at most 9 assignments (the 20% fee)"},
    )
    dry_run = fields.Boolean(load_default=True, metadata={"description": "preview only"})
    confirm = fields.String(
        load_default=None, allow_none=True, metadata={"description": CONFIRM_HELP}
    )
    request_key = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "makes a retried creation find the HITs of the first instead of "
            "making new ones; defaults to the Idempotency-Key header, else the request itself"
        },
    )

    @validates_schema
    def _distinct(self, data: dict[str, Any], **_: Any) -> None:
        for name in ("locales", "exclude_qualification_type_ids"):
            values = data.get(name) or []
            if len(set(values)) != len(values):
                raise ValidationError("has repeated values", name)


class RequirementSchema(Schema):
    qualification_type_id = fields.String()
    comparator = fields.String()
    integer_values = fields.List(fields.Integer())
    locale_values = fields.List(fields.Dict(keys=fields.String(), values=fields.String()))


class TotalsSchema(Schema):
    hits = fields.Integer()
    assignments = fields.Integer()
    rewards = Money()
    fees = Money()
    total = Money()


class HitCostSchema(Schema):
    index = fields.Integer(metadata={"description": "the batch's place in the request, from 0"})
    assignments = fields.Integer()
    rewards = Money()
    fees = Money()
    total = Money()


class CreatedHitSchema(HitCostSchema):
    hit_id = fields.String()
    hit_type_id = fields.String()
    status = fields.String()
    expires_at = fields.DateTime(allow_none=True)
    worker_url = fields.String(allow_none=True, metadata={"description": "where workers find it"})


class HitPlanSchema(Schema):
    """The preview, and (with ``hits`` filled in with ids) the answer to a creation."""

    dry_run = fields.Boolean()
    slug = fields.String()
    platform = fields.String()
    mode = fields.String()
    reward = Money()
    assignments = fields.Integer()
    micro_batches = fields.Boolean()
    hits = fields.List(fields.Nested(HitCostSchema))
    single = fields.Nested(TotalsSchema, metadata={"description": "one HIT of every assignment"})
    micro = fields.Nested(TotalsSchema, metadata={"description": "HITs of at most 9"})
    total = Money(metadata={"description": "of the HITs this request creates"})
    saving = Money(metadata={"description": "what micro-batches save against one HIT"})
    balance = Money(allow_none=True)
    currency = fields.String()
    sufficient = fields.Boolean(allow_none=True)
    survey_url = fields.String()
    requirements = fields.List(fields.Nested(RequirementSchema))
    exclusion_qualification_id = fields.String(
        allow_none=True, metadata={"description": "the study's own; null until micro-batches"}
    )
    unenforced_groups = fields.List(
        fields.String(),
        metadata={
            "description": "the study's exclusion or include groups with no qualification in "
            "this mode: only /eligibility and /start keep their workers out"
        },
    )


class HitsCreatedSchema(HitPlanSchema):
    hits = fields.List(fields.Nested(CreatedHitSchema))  # type: ignore[assignment]


class HitSchema(Schema):
    """A HIT of the study as the platform reports it now."""

    hit_id = fields.String()
    hit_type_id = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    reward = Money(allow_none=True)
    assignments = fields.Integer(allow_none=True)
    available = fields.Integer(allow_none=True)
    pending = fields.Integer(allow_none=True)
    completed = fields.Integer(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    worker_url = fields.String(allow_none=True)
    problem = fields.String(
        allow_none=True, metadata={"description": "why the platform could not report it"}
    )


class HitListSchema(Schema):
    items = fields.List(fields.Nested(HitSchema))


class HitExtendSchema(Schema):
    add_assignments = fields.Integer(
        strict=True, load_default=0, validate=validate.Range(min=0, max=100_000)
    )
    expires_at = fields.AwareDateTime(
        load_default=None, allow_none=True, metadata={"description": "the new expiry, later"}
    )
    confirm = fields.String(
        load_default=None, allow_none=True, metadata={"description": CONFIRM_HELP}
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("add_assignments") and data.get("expires_at") is None:
            raise ValidationError("give add_assignments, expires_at or both", "add_assignments")
