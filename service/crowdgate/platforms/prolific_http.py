"""Prolific's REST API over one ``requests`` Session: auth, timeouts, retries, pages, errors.

A throttled call (429) is retried whatever it is: Prolific carried none of it out. It
waits as long as ``Retry-After`` says, else backs off exponentially. A 5xx or a lost
answer may follow a call Prolific did carry out, so only reads and calls Prolific
documents as idempotent (submission transitions, participant group membership) are
retried then; any other call fails at once and its caller settles what happened.

The token travels only in the Authorization header. It is kept out of reprs, logs and
every error this module raises (a platform message that echoes it has it masked).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from crowdgate.platforms.failures import PlatformError, PlatformRejected, PlatformUnavailable
from crowdgate.platforms.pacing import Pacer

PLATFORM = "prolific"
DEFAULT_BASE_URL = "https://api.prolific.com/api/v1/"
API_PATH = "/api/v1/"
#: Longest wait a Retry-After may ask for before the call counts as unavailable.
MAX_RETRY_AFTER = 120.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 20.0
PAGE_SIZE = 100
#: Prolific's own CLI gives up after this many pages; so does crowdgate.
MAX_PAGES = 1000
MAX_MESSAGE = 500


def base_url(endpoint_url: str | None) -> str:
    """The API root ending in ``/api/v1/``; an endpoint given as just a host gets the path."""
    url = (endpoint_url or DEFAULT_BASE_URL).strip()
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH.rstrip("/")):
        path += API_PATH.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


class Secret:
    """A credential that shows as ``***`` in reprs, logs and f-strings; ``reveal()``
    gives the value to the one place that sends it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def revealed(value: object) -> str:
    """The text of a token given as a Secret or as plain text."""
    return value.reveal() if isinstance(value, Secret) else str(value or "")


class _TokenAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Token ...``; its repr does not show the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Token {self._token}"
        return request

    def __repr__(self) -> str:
        return "<Prolific token auth>"


class ProlificHttp:
    """Calls to one Prolific API root with one token, shared by threads."""

    def __init__(
        self,
        url: str | None,
        token: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        rate_limit: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url(url)
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self._token = token
        self._pacer = Pacer(rate_limit) if rate_limit else None
        self._sleep = sleep
        self._owns_session = session is None
        self.session = session or requests.Session()
        if self._owns_session:
            # a bonus job sends up to CROWDGATE_BONUS_CONCURRENCY (64) calls at once
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=64)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
        self.session.auth = _TokenAuth(token)
        self.session.headers.update(
            {"Accept": "application/json", "User-Agent": "crowdgate (Prolific adapter)"}
        )

    def __repr__(self) -> str:
        return f"ProlificHttp({self.base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # --- calls ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotent: bool,
    ) -> Any:
        """The decoded JSON answer (None for an empty one) of a 2xx; else a PlatformError."""
        url = path if path.startswith(("http://", "https://")) else self.url(path)
        operation = f"{method} {urlsplit(url).path.removeprefix(urlsplit(self.base_url).path)}"
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            if self._pacer is not None:
                self._pacer.wait()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    timeout=self.timeout,
                    allow_redirects=method == "GET",
                )
            except requests.RequestException as exc:
                # A refused or timed-out connection sent nothing; anything later may
                # have reached Prolific.
                unsent = isinstance(exc, requests.ConnectTimeout) or _refused(exc)
                if not last and (idempotent or unsent):
                    self._sleep(self._backoff(attempt))
                    continue
                raise PlatformUnavailable(
                    self._mask(f"Prolific {operation} got no answer: {type(exc).__name__}")
                    + ("" if unsent or idempotent else " (it may have been carried out)"),
                    platform=PLATFORM,
                    platform_code=type(exc).__name__,
                    retryable=True,
                    extra={"operation": operation},
                ) from None
            status = response.status_code
            if status == 429 and not last:
                self._sleep(self._retry_after(response, attempt))
                continue
            if status >= 500 and idempotent and not last:
                self._sleep(self._backoff(attempt))
                continue
            if status < 400:
                return _decoded(response)
            raise self.error(response, operation)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = PAGE_SIZE
    ) -> Iterator[list[dict[str, Any]]]:
        """Each page's ``results``: ``_links.next.href`` while there is one, else by
        ``limit``/``offset`` until a short page or ``meta.count`` items."""
        query: dict[str, Any] | None = {**(params or {}), "limit": page_size, "offset": 0}
        url = path
        seen = 0
        for _ in range(MAX_PAGES):
            answer = self.call("GET", url, params=query, idempotent=True)
            results, links, count = _envelope(answer)
            yield results
            seen += len(results)
            following = _next_href(links)
            if following:
                url, query = self._same_origin(following), None
                continue
            if links is not None and "next" in links:
                return  # Prolific said this was the last page
            if len(results) < page_size or (count is not None and seen >= count):
                return
            url = path
            query = {**(params or {}), "limit": page_size, "offset": seen}

    def _same_origin(self, href: str) -> str:
        """``href``'s path and query on crowdgate's own API root, so that the token is
        never sent to a host named by an answer."""
        target = urlsplit(urljoin(self.base_url, href))
        root = urlsplit(self.base_url)
        return urlunsplit((root.scheme, root.netloc, target.path, target.query, ""))

    # --- errors -----------------------------------------------------------------------

    def error(self, response: requests.Response, operation: str) -> PlatformError:
        message, code = platform_message(response)
        status = response.status_code
        said = self._mask(f"Prolific {operation} failed ({status}): {message}")
        extra = {"operation": operation, "http_status": status}
        platform_code = code or f"HTTP {status}"
        if status == 429:
            return PlatformUnavailable(
                f"{said} (still throttled after every retry; try again later)",
                platform=PLATFORM,
                platform_code=platform_code,
                retryable=True,
                extra=extra,
            )
        if status >= 500:
            return PlatformUnavailable(
                said, platform=PLATFORM, platform_code=platform_code, retryable=True, extra=extra
            )
        if status in (401, 403):
            return PlatformError(
                f"{said}. Check the token (CROWDGATE_PROLIFIC_TOKEN, or the study's own "
                "platform_token): Prolific did not accept it.",
                platform=PLATFORM,
                platform_code=platform_code,
                code="platform_credentials_rejected",
                extra=extra,
            )
        return PlatformRejected(said, platform=PLATFORM, platform_code=platform_code, extra=extra)

    def _mask(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            return self._backoff(attempt)
        return min(wait, MAX_RETRY_AFTER)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def platform_message(response: requests.Response) -> tuple[str, str]:
    """Prolific's message and error code from either of its error bodies.

    ``{"error": {"title", "detail" (text or field errors), "error_code",
    "additional_information"}}``, or ``{"message", "detail"}``; else the raw text.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    code = ""
    parts: list[str] = []
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("error_code") or "")
        parts = [_words(error.get("detail")) or str(error.get("title") or "")]
        extra = error.get("additional_information")
        if extra:
            parts.append(_words(extra))
    elif isinstance(body, dict) and ("message" in body or "detail" in body):
        parts = [_words(body.get("message")), _words(body.get("detail"))]
    elif body is not None:
        parts = [_words(body)]
    message = "; ".join(p for p in parts if p)
    if not message:
        message = (response.text or "").strip() or response.reason or "no message"
    return message[:MAX_MESSAGE], code


def _words(value: Any) -> str:
    """A field-error mapping or list as one line of text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {_words(inner)}" for key, inner in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_words(item) for item in value)
    return str(value)


def _decoded(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _envelope(answer: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None, int | None]:
    if isinstance(answer, list):
        return answer, None, None
    if not isinstance(answer, dict):
        return [], None, None
    results = answer.get("results") or []
    links = answer.get("_links") if isinstance(answer.get("_links"), dict) else None
    meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
    count = meta.get("count") if meta else None
    return list(results), links, count if isinstance(count, int) else None


def _next_href(links: Mapping[str, Any] | None) -> str | None:
    if not links:
        return None
    following = links.get("next")
    if isinstance(following, Mapping):
        following = following.get("href")
    return following if isinstance(following, str) and following else None


def _refused(exc: requests.RequestException) -> bool:
    """A connection refused outright (nothing listening): the request never left."""
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text
