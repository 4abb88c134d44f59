"""Errors the rules raise; the API turns each into the one JSON error shape."""

from __future__ import annotations

from typing import Any


class CrowdgateError(Exception):
    """A failure a caller can act on: an HTTP status, a stable code and a message."""

    status = 400
    code = "bad_request"
    #: Seconds after which asking again may succeed; sent as the Retry-After header.
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(CrowdgateError):
    status = 422
    code = "validation_error"


class NotFound(CrowdgateError):
    status = 404
    code = "not_found"


class Conflict(CrowdgateError):
    status = 409
    code = "conflict"


class Unauthorized(CrowdgateError):
    status = 401
    code = "unauthorized"


class Forbidden(CrowdgateError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(CrowdgateError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(CrowdgateError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(CrowdgateError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
