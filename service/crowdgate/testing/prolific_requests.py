"""One Prolific API request as the operations see it, its errors, and the list envelope.

Errors use the nested shape Prolific's own CLI parses first:
``{"error": {"status", "error_code", "title", "detail", "additional_information"}}``.
Lists use ``{"results", "_links": {"self", "next", "previous", "last"}, "meta": {"count"}}``
and take ``limit``/``offset`` or ``page``/``page_size``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
#: Prolific's numeric error codes are not documented; these only have to be stable ints.
_CODES = {400: 140100, 401: 140101, 404: 140104, 405: 140105, 429: 140129, 500: 140500}


class ProlificError(Exception):
    """An answer other than success: its HTTP status and the ``detail`` it carries."""

    def __init__(self, status: int, detail: Any, additional_information: str = "") -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail
        self.additional_information = additional_information

    def body(self, field_errors_as_text: bool = True) -> dict[str, Any]:
        """The error body; field errors (``{"field": ["message"]}``) are flattened into
        one line unless ``field_errors_as_text`` is False (Prolific's detail may be either)."""
        detail = self.detail
        if field_errors_as_text and isinstance(detail, dict):
            detail = "; ".join(
                f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in detail.items()
            )
        return error_body(self.status, detail, self.additional_information)


def error_body(status: int, detail: Any, additional_information: str = "") -> dict[str, Any]:
    return {
        "error": {
            "status": status,
            "error_code": _CODES.get(status, 140000 + status),
            "title": _TITLES.get(status, "Error"),
            "detail": detail,
            "additional_information": additional_information,
        }
    }


@dataclass
class Request:
    method: str
    #: The path without its query, always with a trailing slash.
    path: str
    query: dict[str, str]
    body: Any
    #: Scheme and host the client used, so links point back the way it came.
    base: str
    args: dict[str, str] = field(default_factory=dict)

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise ProlificError(400, "The request body must be a JSON object.")
        return self.body

    def text(self, name: str, *, required: bool = True, min_length: int = 0) -> str:
        value = self.obj().get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise ProlificError(400, {name: ["This field is required and must be a string."]})
        if len(value) < min_length:
            raise ProlificError(
                400, {name: [f"Ensure this field has at least {min_length} characters."]}
            )
        return value

    def id(self, name: str) -> str:
        value = self.text(name)
        if not ID_PATTERN.match(value):
            raise ProlificError(400, {name: [f"{value!r} is not a valid id (24 hex digits)."]})
        return value

    def ids(self, name: str, *, required: bool = True) -> list[str]:
        value = self.obj().get(name)
        if value is None and not required:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProlificError(400, {name: ["This field must be a list of ids."]})
        bad = [v for v in value if not ID_PATTERN.match(v)]
        if bad:
            raise ProlificError(400, {name: [f"Not valid ids (24 hex digits): {', '.join(bad)}"]})
        return list(dict.fromkeys(value))


def paginate(request: Request, items: Sequence[Any], default_size: int = 200) -> dict[str, Any]:
    """One page of ``items`` in Prolific's envelope, by page/page_size or limit/offset."""
    by_page = "page" in request.query or "page_size" in request.query
    size_key = "page_size" if by_page else "limit"
    size = _int_query(request.query, size_key, default_size, minimum=1)
    if by_page:
        page = _int_query(request.query, "page", 1, minimum=1)
        offset = (page - 1) * size
    else:
        offset = _int_query(request.query, "offset", 0, minimum=0)
    count = len(items)

    def link(start: int | None) -> str | None:
        if start is None:
            return None
        query = dict(request.query)
        if by_page:
            query.update(page=str(start // size + 1), page_size=str(size))
        else:
            query.update(limit=str(size), offset=str(start))
        return f"{request.base}{request.path}?{urlencode(query)}"

    following = offset + size if offset + size < count else None
    before = max(offset - size, 0) if offset > 0 else None
    last = max((count - 1) // size * size, 0)
    return {
        "results": list(items[offset : offset + size]),
        "_links": {
            "self": {"href": link(offset), "title": "Current"},
            "next": {"href": link(following), "title": "Next"},
            "previous": {"href": link(before), "title": "Previous"},
            "last": {"href": link(last), "title": "Last"},
        },
        "meta": {"count": count},
    }


def _int_query(query: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ProlificError(400, {name: [f"{raw!r} is not a whole number."]}) from None
    if value < minimum:
        raise ProlificError(400, {name: [f"Must be at least {minimum}."]})
    return value


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def number(value: Decimal | int) -> int | float:
    """A minor-unit amount as JSON: whole numbers as ints, fractions of a penny as floats."""
    decimal = Decimal(value)
    return int(decimal) if decimal == decimal.to_integral_value() else float(decimal)
