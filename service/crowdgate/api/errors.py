"""The one JSON error shape, for every failure under crowdgate's API path."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, jsonify
from flask.wrappers import Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from crowdgate.api.context import request_id
from crowdgate.errors import CrowdgateError


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def error_response(exc: BaseException) -> Response:
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    if isinstance(exc, CrowdgateError):
        status, code, message = exc.status, exc.code, exc.message
        fields, extra = exc.fields, exc.extra
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, RequestEntityTooLarge):
        status, code = 413, "payload_too_large"
        message = (
            f"The body is larger than the {current_app.config['CROWDGATE_MAX_BODY_BYTES']} "
            "bytes crowdgate accepts."
        )
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
        code = _snake(exc.name)
        message = exc.description or exc.name
        allow = exc.get_response().headers.get("Allow")
        if allow:
            headers["Allow"] = allow
    else:
        status, code = 500, "internal_error"
        message = "crowdgate failed to handle this request; the request id is in the log."
        current_app.logger.error("request %s failed", request_id(), exc_info=exc)
    body = {
        "code": status,
        "error": code,
        "message": message,
        "fields": fields,
        "request_id": request_id(),
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    response.headers["X-Request-ID"] = request_id()
    return response
