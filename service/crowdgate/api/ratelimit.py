"""The survey rate limit: one counter per survey key and client address, on every survey endpoint.

Admin calls and hook deliveries the platform signed are not counted; an unsigned or
badly signed delivery is, so the hook endpoint does not let anyone flood the service.

Counters live in the storage named by ``CROWDGATE_RATELIMIT_STORAGE_URI`` (memory, or
Redis to share them between instances), counted by the ``limits`` library's
fixed-window strategy: the library under flask-limiter, used directly. flask-limiter's
own before-request check resolves default, blueprint and decorated limits and their
exemptions on every call of the application; that cost about half a millisecond per
request, the largest single share of a code check, where one ``hit`` costs a few
microseconds.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask, request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from crowdgate.api.auth import survey_key_given
from crowdgate.api.webhooks import signed_delivery
from crowdgate.errors import RateLimited

SCOPE = "crowdgate-survey"
#: How often the memory storage drops counters of windows that have ended.
SWEEP_EVERY = 10.0
#: After the shared storage fails, counters stay in this process for this long.
RETRY_STORAGE_AFTER = 30.0

log = logging.getLogger(__name__)


class _MemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping ended windows inline every few seconds.

    The parent starts a timer thread for the sweep whenever the last one has finished,
    that is up to a hundred times a second under load, and each start waits for the new
    thread to get the GIL: a fifth of a busy worker's time went there. Counts stay
    exact without any sweep (a counter whose window has ended is dropped when next
    read); the sweep only frees the memory of counters never read again.
    """

    _last_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the parent's private hook
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_EVERY:
            self._last_sweep = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def storage_for(uri: str) -> Storage:
    if uri.startswith("memory://"):
        return _MemoryStorage()
    storage = storage_from_string(uri)
    if not isinstance(storage, Storage):
        raise ValueError(
            f"CROWDGATE_RATELIMIT_STORAGE_URI={uri!r} names an asyncio storage; "
            "crowdgate needs a synchronous one (memory://, redis://, ...)."
        )
    return storage


def _caller_key() -> str:
    key = survey_key_given() or ""
    # remote_addr is the client's address once ProxyFix has read trusted proxies' headers.
    return hashlib.sha256(key.encode()).hexdigest()[:16] + "|" + (request.remote_addr or "")


class SurveyRateLimit:
    def __init__(self, app: Flask) -> None:
        self.item: RateLimitItem = parse(app.config["CROWDGATE_SURVEY_RATE_LIMIT"])
        self._shared = FixedWindowRateLimiter(
            storage_for(app.config["CROWDGATE_RATELIMIT_STORAGE_URI"])
        )
        # When Redis is unreachable, pages keep working with per-process counters.
        self._fallback = FixedWindowRateLimiter(_MemoryStorage())
        self._storage_failed_at: float | None = None

    def _strategy(self) -> RateLimiter:
        failed_at = self._storage_failed_at
        if failed_at is not None and time.monotonic() - failed_at < RETRY_STORAGE_AFTER:
            return self._fallback
        return self._shared

    def check(self) -> None:
        """Count this survey call; 429 (with Retry-After) once the caller is over the limit."""
        if request.method == "OPTIONS" or "Authorization" in request.headers:
            return  # admin scripts pace themselves; preflights carry no key
        if signed_delivery():
            return  # Prolific sends bursts of hooks from a few addresses
        key = _caller_key()
        strategy = self._strategy()
        try:
            allowed = strategy.hit(self.item, SCOPE, key)
        except Exception:  # the storage's client raises its own errors (redis, ...)
            log.warning("rate-limit storage unreachable; counting in this process for now")
            self._storage_failed_at = time.monotonic()
            strategy = self._fallback
            allowed = strategy.hit(self.item, SCOPE, key)
        else:
            if strategy is not self._fallback:
                self._storage_failed_at = None
        if not allowed:
            reset = strategy.get_window_stats(self.item, SCOPE, key).reset_time
            raise RateLimited(
                f"Too many requests: the limit is {self.item}. Retry later.",
                retry_after=max(1, int(reset - time.time() + 0.999)),
            )
