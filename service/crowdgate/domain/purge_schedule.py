"""When a process last deleted expired rows (idempotency records, hook event ids), so
that requests purge only now and then instead of on every call."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta


class PurgeSchedule:
    def __init__(self, every: timedelta) -> None:
        self.every = every
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def due(self, now: datetime) -> bool:
        """True at most once per ``every`` (and at the first call); the caller then purges."""
        with self._lock:
            if self._last is not None and abs(now - self._last) < self.every:
                return False
            self._last = now
            return True

    def again(self) -> None:
        """Make the next call due: the last purge stopped at its batch with more left."""
        with self._lock:
            self._last = None
