"""Studies as admins create, update and read them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from crowdgate.domain.exclusion_groups import NAME_PATTERN
from crowdgate.domain.studies import (
    COMPLETION_CODE_PATTERN,
    SLUG_PATTERN,
    redirect_template_problem,
)
from crowdgate.platforms import PLATFORM_NAMES
from crowdgate.schemas.money import Money

SLUG = validate.Regexp(
    SLUG_PATTERN,
    error="use 1 to 64 lower-case letters, digits and dashes, not starting with a dash",
)
#: MTurk HIT ids are 30 upper-case letters and digits; other platforms' posting ids
#: (Prolific's 24 hex digits) fit the same loose shape.
HIT_ID = validate.Regexp(
    r"^[A-Za-z0-9_-]{1,128}\Z", error="a HIT id is 1 to 128 letters, digits, '_' or '-'"
)
ANSWER_FIELD = validate.Regexp(
    r"^[A-Za-z0-9_.-]{1,100}\Z", error="an answer field name is 1 to 100 letters, digits, '_.-'"
)
GROUP_NAME = validate.Regexp(
    NAME_PATTERN,
    error="a group name is 1 to 100 letters, digits, '_', '.' or '-', starting with a letter "
    "or digit",
)
ORIGIN = validate.Regexp(
    r"^(\*|https?://[^/\s]+)\Z", error="an origin is scheme://host[:port] with no path, or *"
)

PLATFORM_CODE = validate.Regexp(
    COMPLETION_CODE_PATTERN,
    error="a completion code is 1 to 64 visible ASCII characters, without spaces",
)


def _redirect_template(value: str) -> None:
    problem = redirect_template_problem(value)
    if problem:
        raise ValidationError(f"the URL {problem}")


class ConditionSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    target = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "participants wanted in this condition"},
    )


class StudyFieldsSchema(Schema):
    """What an admin may set on a study; every field optional, as in an update."""

    title = fields.String(validate=validate.Length(max=300))
    platform = fields.String(validate=validate.OneOf(PLATFORM_NAMES))
    mode = fields.String(validate=validate.OneOf(("sandbox", "live")))
    conditions = fields.List(fields.Nested(ConditionSchema), validate=validate.Length(max=100))
    lease_minutes = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=7 * 24 * 60),
        metadata={"description": "how long a started participant holds a place"},
    )
    allow_repeats = fields.Boolean()
    allowed_origins = fields.List(
        fields.String(validate=ORIGIN),
        validate=validate.Length(max=50),
        metadata={"description": "origins whose pages may call the survey endpoints"},
    )
    hit_ids = fields.List(
        fields.String(validate=HIT_ID),
        validate=validate.Length(max=1000),
        metadata={"description": "the study's HITs (postings) that sync reads; replaces the list"},
    )
    code_answer_field = fields.String(
        validate=ANSWER_FIELD,
        metadata={"description": "the HIT's answer field holding the typed code (surveycode)"},
    )
    exclusion_groups = fields.List(
        fields.String(validate=GROUP_NAME),
        validate=validate.Length(max=50),
        metadata={"description": "exclusion groups whose members may not start; replaces the list"},
    )
    bonus_cap_per_worker = Money(
        allow_none=True,
        metadata={"description": "the most one worker may get in bonuses; null for no cap"},
    )
    bonus_budget = Money(
        allow_none=True,
        metadata={"description": "the most the study pays in bonuses (fees aside); null for none"},
    )
    include_groups = fields.List(
        fields.String(validate=GROUP_NAME),
        validate=validate.Length(max=50),
        metadata={
            "description": "groups a worker must belong to (every one of them) to start; "
            "replaces the list"
        },
    )

    platform_completion_code = fields.String(
        allow_none=True,
        validate=PLATFORM_CODE,
        metadata={
            "description": "the completion code the platform expects (Prolific's study "
            "completion code); with no completion_redirect_url, /complete sends participants "
            "to the platform's completion page with it; null for none"
        },
    )
    completion_redirect_url = fields.String(
        allow_none=True,
        validate=[validate.Length(max=2000), _redirect_template],
        metadata={
            "description": "where /complete sends participants: an https or http URL, with "
            "optional {completion_code}, {worker_id} and {study} placeholders filled in "
            "URL-encoded; null to use the platform's completion page"
        },
    )

    platform_token = fields.String(
        allow_none=True,
        load_only=True,
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "the study's own API token for its platform (Prolific), kept "
            "sealed with CROWDGATE_SECRET_KEY and never shown; null to use crowdgate's "
            "(CROWDGATE_PROLIFIC_TOKEN)"
        },
    )
    platform_workspace_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="is not a workspace id"),
        metadata={
            "description": "the platform workspace the study's balance, bonuses and groups "
            "belong to (Prolific); null to use crowdgate's (CROWDGATE_PROLIFIC_WORKSPACE_ID)"
        },
    )

    @validates_schema
    def _unique_conditions(self, data: dict[str, Any], **_: Any) -> None:
        names = [c["name"] for c in data.get("conditions", [])]
        if len(set(names)) != len(names):
            raise ValidationError("condition names must be unique", "conditions")

    @validates_schema
    def _unique_groups(self, data: dict[str, Any], **_: Any) -> None:
        for name in ("exclusion_groups", "include_groups"):
            names = data.get(name, [])
            if len(set(names)) != len(names):
                raise ValidationError("group names must be unique", name)

    @validates_schema
    def _unique_hit_ids(self, data: dict[str, Any], **_: Any) -> None:
        hit_ids = data.get("hit_ids", [])
        if len(set(hit_ids)) != len(hit_ids):
            raise ValidationError("HIT ids must be unique", "hit_ids")


class StudyCreateSchema(StudyFieldsSchema):
    slug = fields.String(required=True, validate=SLUG)


class StudySchema(Schema):
    slug = fields.String()
    title = fields.String()
    platform = fields.String()
    mode = fields.String()
    conditions = fields.List(fields.Nested(ConditionSchema))
    lease_minutes = fields.Integer()
    allow_repeats = fields.Boolean()
    allowed_origins = fields.List(fields.String())
    hit_ids = fields.List(fields.String())
    code_answer_field = fields.String()
    exclusion_qualification_id = fields.String(
        allow_none=True,
        metadata={"description": "the qualification marking the study's workers (read-only)"},
    )
    exclusion_groups = fields.List(fields.String())
    include_groups = fields.List(fields.String())
    bonus_cap_per_worker = Money(allow_none=True)
    bonus_budget = Money(allow_none=True)
    platform_completion_code = fields.String(allow_none=True)
    completion_redirect_url = fields.String(allow_none=True)
    platform_token_set = fields.Boolean(
        metadata={"description": "the study has its own platform token (never shown)"}
    )
    platform_workspace_id = fields.String(allow_none=True)
    recorded_in = fields.List(
        fields.String(),
        metadata={"description": "groups the study's participants join (set on each group)"},
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class StudyCreatedSchema(StudySchema):
    survey_key = fields.String(
        metadata={"description": "shown once; pages send it as X-Survey-Key"}
    )


class SurveyKeySchema(Schema):
    slug = fields.String()
    survey_key = fields.String()
