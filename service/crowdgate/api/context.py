"""What a view needs from the request: crowdgate's state, parsed input and the request id."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, g, request
from marshmallow import Schema, ValidationError

from crowdgate.clock import Clock
from crowdgate.db import Database
from crowdgate.errors import CrowdgateError, UnsupportedMediaType, ValidationFailed

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass
class CrowdGateState:
    """crowdgate's per-application state, kept in ``app.extensions["crowdgate"]``."""

    db: Database
    api: Any  # the flask-restx Api, whose __schema__ is the OpenAPI spec
    clock: Clock
    api_path: str
    max_body_bytes: int
    max_state_bytes: int
    default_lease_minutes: int
    limiter: Any = None  # flask-limiter's Limiter, set once the blueprint is limited


def state() -> CrowdGateState:
    return current_app.extensions["crowdgate"]  # type: ignore[no-any-return]


def now() -> datetime:
    return state().clock()


def request_id() -> str:
    """The caller's X-Request-ID when it is sane, else a fresh one; logged and returned."""
    if "crowdgate_request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.crowdgate_request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.crowdgate_request_id  # type: ignore[no-any-return]


def json_body() -> dict[str, Any]:
    """The body as a JSON object, with a clear error for anything else."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    return _json_object()


def _json_object() -> dict[str, Any]:
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except ValueError as exc:
        raise CrowdgateError(f"The body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(data, dict):
        raise CrowdgateError("The body must be a JSON object.", code="body_not_object")
    return data


def survey_values(*, with_body: bool) -> dict[str, Any]:
    """Query parameters, then the body's fields (JSON or form), without the survey key.

    Survey pages send whatever their tool can: Qualtrics' Web Service element sends
    query strings or form fields, jsPsych sends JSON.
    """
    values: dict[str, Any] = request.args.to_dict()
    values.pop("key", None)
    if with_body and request.content_length:
        if request.is_json:
            values.update(_json_object())  # a JSON body never carries the key: keep its fields
        else:
            form = request.form.to_dict()
            form.pop("key", None)
            values.update(form)
    return values


def load(schema: Schema, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    try:
        return schema.load(data, partial=partial)  # type: ignore[no-any-return]
    except ValidationError as exc:
        problems = flatten_messages(exc.messages)
        raise ValidationFailed(
            "Invalid input: "
            + "; ".join(f"{name}: {' '.join(messages)}" for name, messages in problems.items()),
            fields=problems,
        ) from None


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"conditions.0.target": [...]}``."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(m) for m in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        flat.update(flatten_messages(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def cursor_after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise ValidationFailed(
            "cursor is not one this service handed out.",
            fields={"cursor": ["not a cursor from a previous page"]},
        )
    return int(cursor)
