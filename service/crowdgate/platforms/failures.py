"""Errors a platform call ends in, carrying the platform's own code and message."""

from __future__ import annotations

from typing import Any

from crowdgate.errors import CrowdgateError


class PlatformError(CrowdgateError):
    """The platform refused or failed a call; ``platform_code`` is its own (TurkErrorCode...)."""

    status = 502
    code = "platform_error"

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        platform_code: str = "",
        retryable: bool = False,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message,
            code=code,
            extra={"platform": platform, "platform_code": platform_code, **(extra or {})},
        )
        self.platform = platform
        self.platform_code = platform_code
        self.retryable = retryable


class PlatformRejected(PlatformError):
    """The platform said the request itself is wrong (MTurk RequestError): do not retry."""

    status = 422
    code = "platform_rejected"


class PlatformUnavailable(PlatformError):
    """Throttled, a 5xx, a timeout or no answer, after the adapter's own retries."""

    status = 503
    code = "platform_unavailable"


class NotSupported(CrowdgateError):
    """This platform has no such thing (no payments without a platform, for instance)."""

    status = 409
    code = "not_supported_by_platform"
