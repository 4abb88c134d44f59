"""MTurk's failures as crowdgate's, keeping MTurk's TurkErrorCode and message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from crowdgate.platforms.failures import PlatformError, PlatformRejected, PlatformUnavailable

PLATFORM = "mturk"

#: The error codes botocore's retry modes count as throttling, as MTurk sends them.
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestThrottled"}
)
#: What MTurk answers when a UniqueRequestToken was already used within 24 hours.
DUPLICATE_CODES = frozenset(
    {"AWS.MechanicalTurk.DuplicateRequest", "AWS.MechanicalTurk.HitAlreadyExists"}
)
INVALID_ASSIGNMENT_STATE = "AWS.MechanicalTurk.InvalidAssignmentState"
NO_ANSWER = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def _details(exc: ClientError) -> tuple[str, str, str, int]:
    response: dict[str, Any] = exc.response or {}
    error = response.get("Error", {})
    kind = str(error.get("Code", ""))
    message = str(error.get("Message", "") or response.get("Message", ""))
    # botocore lifts a modelled error's extra members (TurkErrorCode) to the top level.
    turk_code = str(response.get("TurkErrorCode") or error.get("TurkErrorCode") or "")
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return kind, message, turk_code, status


def translate(exc: Exception, operation: str) -> PlatformError:
    """The crowdgate error for a botocore failure of ``operation`` (after its retries)."""
    if isinstance(exc, ClientError):
        kind, message, turk_code, status = _details(exc)
        said = f"MTurk {operation} failed: {message or kind}"
        extra = {"operation": operation, "mturk_error": kind}
        if kind in THROTTLING_CODES:
            return PlatformUnavailable(
                f"{said} (still throttled after every retry; try again later)",
                platform=PLATFORM,
                platform_code=turk_code or kind,
                retryable=True,
                extra=extra,
            )
        if kind == "ServiceFault" or status >= 500:
            return PlatformUnavailable(
                said,
                platform=PLATFORM,
                platform_code=turk_code or kind,
                retryable=True,
                extra=extra,
            )
        return PlatformRejected(
            said, platform=PLATFORM, platform_code=turk_code or kind, extra=extra
        )
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError | ConnectionClosedError,
    ):
        return PlatformUnavailable(
            f"MTurk {operation} got no answer: {exc}",
            platform=PLATFORM,
            platform_code=type(exc).__name__,
            retryable=True,
            extra={"operation": operation},
        )
    if isinstance(exc, ParamValidationError):
        # The adapter's own checks should have caught this; say what botocore saw.
        return PlatformRejected(
            f"MTurk {operation} was not sent: {exc}",
            platform=PLATFORM,
            platform_code="ParamValidationError",
            extra={"operation": operation},
        )
    if isinstance(exc, NoCredentialsError):
        return PlatformError(
            "No AWS credentials for MTurk: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or an AWS profile) where crowdgate runs.",
            platform=PLATFORM,
            platform_code="NoCredentials",
            code="platform_credentials_missing",
            extra={"operation": operation},
        )
    return PlatformUnavailable(
        f"MTurk {operation} failed: {exc}",
        platform=PLATFORM,
        platform_code=type(exc).__name__,
        retryable=True,
        extra={"operation": operation},
    )


@contextmanager
def mturk_call(operation: str) -> Iterator[None]:
    """Run botocore calls for ``operation``; their failures leave as PlatformErrors."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation) from exc
