"""The platform account's balance."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crowdgate.platforms import PLATFORM_NAMES
from crowdgate.schemas.money import Money


class BalanceArgsSchema(Schema):
    platform = fields.String(required=True, validate=validate.OneOf(PLATFORM_NAMES))
    mode = fields.String(load_default="sandbox", validate=validate.OneOf(("sandbox", "live")))


class BalanceSchema(Schema):
    platform = fields.String()
    mode = fields.String()
    balance = Money(metadata={"description": "available to spend"})
    currency = fields.String()
