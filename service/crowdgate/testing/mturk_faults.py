"""Faults an emulator (MTurk's, Prolific's) injects on purpose, drawn from a seeded generator.

Each call draws from ``random.Random(seed)`` in the order calls arrive, so a
single-threaded test sees the same faults on every run.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

#: What a scheduled or random fault does to one call.
THROTTLE = "throttle"  # HTTP 400 ThrottlingException, nothing done
ERROR = "error"  # HTTP 500 ServiceFault, nothing done
COMMIT_500 = "500"  # the operation takes effect, then HTTP 500 ServiceFault
COMMIT_DROP = "drop"  # the operation takes effect, then the connection closes unanswered
#: A scheduled call that passes untouched, to place a fault after it.
PASS = "pass"
BEFORE = (THROTTLE, ERROR)
AFTER = (COMMIT_500, COMMIT_DROP)


@dataclass
class FaultSettings:
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    latency_ms: int = 0
    #: Operation -> COMMIT_500 or COMMIT_DROP, for every call of that operation.
    commit_then_fail: dict[str, str] = field(default_factory=dict)


class Faults:
    """The fault plan and call counters of one emulator; safe to change while it serves."""

    def __init__(self, settings: FaultSettings | None = None, seed: int = 0) -> None:
        self.settings = settings or FaultSettings()
        self.random = random.Random(seed)
        self._scheduled: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        #: Calls received per operation, faulted or not.
        self.calls: Counter[str] = Counter()
        #: Calls per operation that took effect (answered or not).
        self.committed: Counter[str] = Counter()
        #: Faults injected, per kind.
        self.injected: Counter[str] = Counter()
        #: Calls received per operation and UniqueRequestToken, faulted or not: a token
        #: seen twice is a request its client sent twice.
        self.token_calls: dict[str, Counter[str]] = {}

    def configure(
        self,
        *,
        throttle_rate: float | None = None,
        error_rate: float | None = None,
        latency_ms: int | None = None,
        commit_then_fail: dict[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        """Change any of the settings; the others stay as they were."""
        for name, rate in (("throttle_rate", throttle_rate), ("error_rate", error_rate)):
            if rate is not None and not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        if latency_ms is not None and latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, not {latency_ms}")
        for operation, kind in (commit_then_fail or {}).items():
            if kind not in AFTER:
                raise ValueError(f"commit_then_fail[{operation}] must be one of {AFTER}")
        with self._lock:
            if throttle_rate is not None:
                self.settings.throttle_rate = throttle_rate
            if error_rate is not None:
                self.settings.error_rate = error_rate
            if latency_ms is not None:
                self.settings.latency_ms = latency_ms
            if commit_then_fail is not None:
                self.settings.commit_then_fail = dict(commit_then_fail)
            if seed is not None:
                self.random = random.Random(seed)

    def fail_next(self, operation: str, kind: str, times: int = 1, after: int = 0) -> None:
        """Give ``times`` calls of ``operation`` the fault ``kind`` (any of the four), once
        ``after`` more calls of it have passed without one (a fault in the middle of a job)."""
        if kind not in BEFORE + AFTER:
            raise ValueError(f"kind must be one of {BEFORE + AFTER}, not {kind!r}")
        if times < 1 or after < 0:
            raise ValueError("times must be at least 1 and after at least 0")
        with self._lock:
            self._scheduled.setdefault(operation, deque()).extend([PASS] * after + [kind] * times)

    def reset(self) -> None:
        """No faults, and counters back to zero."""
        with self._lock:
            self.settings = FaultSettings()
            self._scheduled.clear()
            self.calls.clear()
            self.committed.clear()
            self.injected.clear()
            self.token_calls.clear()

    def decide(self, operation: str, token: str | None = None) -> tuple[str | None, float]:
        """Count a call (and its token) and choose its fault (or None) and the latency to
        add, in seconds."""
        with self._lock:
            self.calls[operation] += 1
            if token is not None:
                self.token_calls.setdefault(operation, Counter())[token] += 1
            latency = self.settings.latency_ms / 1000
            queue = self._scheduled.get(operation)
            if queue:
                kind: str | None = queue.popleft()
                if kind == PASS:
                    kind = None
            else:
                kind = None
                # Both draws always happen so one rate does not shift the other's sequence.
                throttle = self.random.random() < self.settings.throttle_rate
                error = self.random.random() < self.settings.error_rate
                if throttle:
                    kind = THROTTLE
                elif error:
                    kind = ERROR
                else:
                    kind = self.settings.commit_then_fail.get(operation)
            if kind is not None:
                self.injected[kind] += 1
            return kind, latency

    def record_commit(self, operation: str) -> None:
        with self._lock:
            self.committed[operation] += 1

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "throttle_rate": self.settings.throttle_rate,
                "error_rate": self.settings.error_rate,
                "latency_ms": self.settings.latency_ms,
                "commit_then_fail": dict(self.settings.commit_then_fail),
                "scheduled": {op: list(q) for op, q in self._scheduled.items() if q},
                "calls": dict(self.calls),
                "committed": dict(self.committed),
                "injected": dict(self.injected),
            }
