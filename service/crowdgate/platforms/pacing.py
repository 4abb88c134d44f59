"""Keeping a client's calls under a platform's rate limit.

Every HTTP request a client sends (retries included) waits for the next free slot, one
every ``1 / rate`` seconds, shared by all the threads and jobs that use the client in
this process. Slots are handed out in order, so a burst of threads is spread out
rather than released together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """At most ``rate`` calls per second through ``wait()``."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            # An idle spell earns no burst: the next slot is never earlier than now.
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
