"""What a view needs from the request: crowdgate's state, parsed input and the request id."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, g, request
from flask.wrappers import Response
from marshmallow import Schema, ValidationError

from crowdgate.clock import Clock
from crowdgate.db import Database
from crowdgate.domain import idempotency, submission_hooks
from crowdgate.domain.purge_schedule import PurgeSchedule
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
    rate_limit: Any = None  # api.ratelimit.SurveyRateLimit, set once the API is built
    idempotency_purge: PurgeSchedule = field(
        default_factory=lambda: PurgeSchedule(idempotency.PURGE_EVERY)
    )
    webhook_event_purge: PurgeSchedule = field(
        default_factory=lambda: PurgeSchedule(submission_hooks.PURGE_EVERY)
    )


def state() -> CrowdGateState:
    return current_app.extensions["crowdgate"]  # type: ignore[no-any-return]


def now() -> datetime:
    return state().clock()


def request_id() -> str:
    """The caller's X-Request-ID when it is sane, else a fresh one; logged and returned."""
    found: str | None = g.get("crowdgate_request_id")
    if found is None:
        given = request.headers.get("X-Request-ID", "")
        # Ids need to be unique, not unpredictable: no system call for random bytes here.
        found = given if _REQUEST_ID.fullmatch(given) else f"{random.getrandbits(128):032x}"
        g.crowdgate_request_id = found
    return found


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer built directly, as flask-restx's own representation would write it.

    For the survey pages' hottest reads: a finished Response passes through flask-restx
    untouched, which skips its content negotiation and a second make_response.
    """
    return current_app.response_class(
        json.dumps(body) + "\n", status=status, mimetype="application/json"
    )


def json_body() -> dict[str, Any]:
    """The body as a JSON object, with a clear error for anything else."""
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    return _json_object()


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is too large")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_object() -> dict[str, Any]:
    # Python's json accepts NaN and Infinity, which no browser's JSON.parse reads back
    # and PostgreSQL's jsonb refuses; they are malformed here as they are in JSON.
    try:
        data = json.loads(
            request.get_data(cache=True) or b"null",
            parse_constant=_not_json,
            parse_float=_finite,
        )
    except RecursionError:
        raise CrowdgateError("The body is nested too deeply.", code="malformed_json") from None
    except ValueError as exc:
        raise CrowdgateError(f"The body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(data, dict):
        raise CrowdgateError("The body must be a JSON object.", code="body_not_object")
    return data


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


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
        elif request.mimetype not in FORM_TYPES:
            raise UnsupportedMediaType(
                f"A body of type {request.mimetype or '(none given)'} cannot be read: send "
                "JSON (application/json) or a form (application/x-www-form-urlencoded)."
            )
        else:
            form = request.form.to_dict()
            form.pop("key", None)
            values.update(form)
    return values


def refuse_nul(data: Any, name: str = "") -> None:
    """Refuse NUL characters anywhere in the input: PostgreSQL cannot store them in text."""
    if isinstance(data, str):
        if "\x00" in data:
            raise ValidationFailed(
                f"{name or 'the body'} contains a NUL character.",
                fields={name or "_schema": ["contains a NUL character"]},
            )
    elif isinstance(data, Mapping):
        for key, value in data.items():
            path = f"{name}.{key}" if name else str(key)
            refuse_nul(key, path)
            refuse_nul(value, path)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            refuse_nul(value, f"{name}.{index}" if name else str(index))


def load(schema: Schema, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    refuse_nul(data)
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
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        raise ValidationFailed(
            "cursor is not one this service handed out.",
            fields={"cursor": ["not a cursor from a previous page"]},
        )
    return int(cursor)
