"""The in-process counter storage: exact counts, windows that end, no thread per request."""

from __future__ import annotations

import threading
import time

import pytest
from crowdgate.api.ratelimit import storage_for
from limits import parse
from limits.strategies import FixedWindowRateLimiter


def test_memory_counts_exactly_without_starting_threads():
    limiter = FixedWindowRateLimiter(storage_for("memory://"))
    item = parse("500 per minute")
    threads_before = {thread.ident for thread in threading.enumerate()}
    results = [limiter.hit(item, "scope", "caller") for _ in range(600)]
    assert results == [True] * 500 + [False] * 100
    started = {thread.ident for thread in threading.enumerate()} - threads_before
    assert not started, "a hit started a thread"


def test_memory_window_ends_and_ended_counters_are_swept():
    storage = storage_for("memory://")
    limiter = FixedWindowRateLimiter(storage)
    item = parse("2 per 1 second")
    assert limiter.hit(item, "scope", "a") and limiter.hit(item, "scope", "a")
    assert not limiter.hit(item, "scope", "a")
    time.sleep(1.1)
    assert limiter.hit(item, "scope", "a")  # a new window
    assert [key for key in storage.storage if "/a/" in key], storage.storage
    storage._last_sweep = 0.0  # due for a sweep at the next hit
    time.sleep(1.1)
    limiter.hit(item, "scope", "b")
    assert not [key for key in storage.storage if "/a/" in key], storage.storage


def test_asyncio_storage_is_refused_clearly():
    with pytest.raises(ValueError, match="synchronous"):
        storage_for("async+memory://")
