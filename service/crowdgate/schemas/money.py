"""Money as it travels: a string of dollars and cents, never a float."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields

MONEY_PATTERN = re.compile(r"\d+(\.\d{1,2})?\Z")
CENT = Decimal("0.01")


class Money(fields.Field):
    """A non-negative amount such as ``"0.50"``: loads to a Decimal, dumps with two places.

    Numbers are refused, not converted: a float such as 0.1 is already not what was meant.
    """

    default_error_messages = {
        "invalid": 'must be a string of dollars and at most 2 decimals, such as "0.50"'
    }

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "example": "0.50"}
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str) or len(value) > 20 or not MONEY_PATTERN.match(value):
            raise self.make_error("invalid")
        return Decimal(value).quantize(CENT)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise ValidationError("not a Decimal")
        return str(value.quantize(CENT))
