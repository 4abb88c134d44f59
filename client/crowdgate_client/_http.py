"""The SDK's one way onto the wire: timeouts, retries with backoff, idempotency keys.

A retry is safe for every method because each POST carries an ``Idempotency-Key``
that stays the same across its retries, and crowdgate answers a repeated key with
the response it stored the first time instead of acting again.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import requests

from crowdgate_client import errors

__all__ = ["API_PATH", "Transport"]

API_PATH = "/api/v1"
USER_AGENT = "crowdgate-client/0.1"

logger = logging.getLogger("crowdgate_client")

# Failures that mean "no (complete) answer": the request may or may not have acted.
_NO_ANSWER = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _replayable(data: Any) -> bool:
    # A file or generator body is consumed by the first attempt and cannot be sent again.
    return data is None or isinstance(data, bytes | str | Mapping | list | tuple)


class Closing:
    """``close()`` and the ``with`` statement, for everything that holds connections."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Transport(Closing):
    """Sends requests to one crowdgate service and turns failures into CrowdgateErrors."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str],
        timeout: float = 30.0,
        retries: int = 3,
        session: requests.Session | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._rand = rand
        # A session handed in belongs to the caller, who closes it.
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base_url}{API_PATH}/{path.lstrip('/')}"

    def backoff_delay(self, retry: int) -> float:
        """Full jitter: uniform in [0, min(max_backoff, backoff * 2**retry)]."""
        return self._rand() * min(self.max_backoff, self.backoff * (2**retry))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        idempotency_key: str | None = None,
    ) -> requests.Response:
        """Send a request, retrying what may succeed later; return a 2xx response or raise."""
        method = method.upper()
        url = self.url(path)
        send_headers = {**self.headers, **(headers or {})}
        if method == "POST" or idempotency_key is not None:
            send_headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        attempts = 1 + (self.retries if _replayable(data) else 0)
        for attempt in range(attempts):
            retries_left = attempts - attempt - 1
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    headers=send_headers,
                    timeout=self.timeout,
                    stream=stream,
                )
            except requests.exceptions.SSLError as exc:
                # A certificate problem does not go away by asking again.
                raise _connection_error(exc, method, url) from exc
            except _NO_ANSWER as exc:
                if not retries_left:
                    raise _connection_error(exc, method, url) from exc
                delay = self.backoff_delay(attempt)
                logger.info("%s %s: %s; retrying in %.2fs", method, url, exc, delay)
                self._sleep(delay)
                continue
            if 200 <= response.status_code < 300:
                return response
            error = errors.error_from_response(response)
            wait = self._retry_delay(error, attempt) if retries_left else None
            if wait is None:
                raise error
            response.close()
            logger.info("%s %s: %s; retrying in %.2fs", method, url, error, wait)
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _retry_delay(self, error: errors.CrowdgateError, attempt: int) -> float | None:
        """Seconds to wait before retrying after this error, or None not to retry."""
        retryable = (
            isinstance(error, errors.ServerError | errors.RateLimitedError)
            # Our own earlier attempt with this key is still running on the server.
            or error.code == "idempotency_key_in_progress"
        )
        if not retryable:
            return None
        delay = self.backoff_delay(attempt)
        response = error.response
        asked = errors.parse_retry_after(
            response.headers.get("Retry-After") if response is not None else None
        )
        if asked is None:
            return delay
        if asked > self.max_backoff:
            # Waiting longer than the caller allowed: give the error (and retry_after) back.
            return None
        return max(asked, delay)

    def close(self) -> None:
        if self._owns_session:
            self.session.close()


def _connection_error(exc: Exception, method: str, url: str) -> errors.ConnectionError:
    timed_out = isinstance(exc, requests.exceptions.Timeout)
    what = "timed out" if timed_out else "got no answer"
    return errors.ConnectionError(
        f"{method} {url} {what}: {exc}",
        code="timeout" if timed_out else "connection_error",
    )
