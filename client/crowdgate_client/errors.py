"""The SDK's errors: one root, a subclass per kind of failure a script can act on.

Every error carries what crowdgate's JSON error shape says (status, code, message,
fields, request id); ``str()`` shows the request id so a log line can be matched
with the service's log.
"""

from __future__ import annotations

import builtins
import email.utils
import time
from typing import Any

import requests

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "ConnectionError",
    "CrowdgateError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "ValidationError",
    "error_class",
    "error_from_response",
    "parse_retry_after",
]


class CrowdgateError(Exception):
    """Any failure reported by crowdgate, or on the way to it."""

    default_code = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        request_id: str | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.fields: dict[str, Any] = fields or {}
        self.request_id = request_id
        self.response = response

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id: {self.request_id})"
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class AuthenticationError(CrowdgateError):
    """401: the key is missing, unknown or revoked."""

    default_code = "unauthorized"


class PermissionDeniedError(CrowdgateError):
    """403: the key is valid but may not do this (e.g. a survey key on another study)."""

    default_code = "forbidden"


class NotFoundError(CrowdgateError):
    """404: no such study, participant or route."""

    default_code = "not_found"


class ConflictError(CrowdgateError):
    """409: the request clashes with the record's current state."""

    default_code = "conflict"


class ValidationError(CrowdgateError, ValueError):
    """400, 413, 415 or 422: the request itself is wrong; ``fields`` says where."""

    default_code = "validation_error"


class RateLimitedError(CrowdgateError):
    """429: too many requests; ``retry_after`` is the seconds the service asked to wait."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(CrowdgateError):
    """5xx: the service (or a proxy in front of it) failed; retrying later may work."""

    default_code = "server_error"


# Shadows the built-in on purpose, as requests does: ``except ConnectionError`` around
# SDK calls catches it whether the name came from here or from builtins.
class ConnectionError(CrowdgateError, builtins.ConnectionError):
    """No answer: the service could not be reached, dropped the connection, or timed out."""

    default_code = "connection_error"


_BY_STATUS: dict[int, type[CrowdgateError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_class(status: int) -> type[CrowdgateError]:
    """The exception class for an HTTP status that is not a success."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, CrowdgateError)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)


def _json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from_response(response: requests.Response) -> CrowdgateError:
    """The error a non-2xx response stands for, whether crowdgate or a proxy wrote it."""
    status = response.status_code
    body = _json_body(response)
    code = body.get("error") if isinstance(body.get("error"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    fields = body.get("fields") if isinstance(body.get("fields"), dict) else None
    request_id = body.get("request_id") if isinstance(body.get("request_id"), str) else None
    request_id = request_id or response.headers.get("X-Request-ID") or None
    if message is None:
        # Not crowdgate's error shape: a proxy's page, an empty body, a crash.
        text = " ".join((response.text or "").split())[:200]
        message = f"HTTP {status} {response.reason or ''}".rstrip()
        if text:
            message = f"{message}: {text}"
        code = code or f"http_{status}"
    cls = error_class(status)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "fields": fields,
        "request_id": request_id,
        "response": response,
    }
    if cls is RateLimitedError:
        return RateLimitedError(
            message, retry_after=parse_retry_after(response.headers.get("Retry-After")), **kwargs
        )
    return cls(message, **kwargs)
