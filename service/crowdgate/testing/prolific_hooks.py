"""Delivering hooks the way Prolific does: signed, at least once, from another thread.

Each delivery is a POST of ``json.dumps(payload)`` (default separators, so verifiers
that re-serialise the parsed body, as Prolific's own example does, get the same
bytes) with ``X-Prolific-Request-Timestamp`` (unix seconds),
``X-Prolific-Request-Signature`` = base64(HMAC-SHA256(secret, timestamp + body)) and
``X-Event-ID`` (the same on every retry of one event).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from crowdgate.testing.prolific_state import ProlificState

#: Waits between attempts at one delivery; its length + 1 is the number of attempts.
RETRY_DELAYS = (0.2, 0.5, 1.0)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def hook_payload(
    state: ProlificState,
    resource_id: str,
    event_type: str,
    status: str | None = None,
    participant_id: str | None = None,
) -> dict[str, Any]:
    """The body Prolific documents for ``event_type``, filled from the state where the
    caller leaves a field out."""
    payload: dict[str, Any] = {"resource_id": resource_id, "event_type": event_type}
    if event_type == "submission.status.change":
        submission = state.submissions.get(resource_id)
        payload["participant_id"] = participant_id or (
            submission.participant_id if submission else None
        )
        payload["status"] = status or (submission.status if submission else None)
    elif event_type == "study.status.change":
        study = state.studies.get(resource_id)
        payload["metadata"] = {}
        payload["status"] = status or (study.status if study else None)
    elif status is not None:
        payload["status"] = status
    return payload


@dataclass
class Delivery:
    """One event for one target, and what became of it."""

    event_id: str
    target_url: str
    payload: dict[str, Any]
    secret: str | None
    attempts: int = 0
    #: HTTP status of each attempt (0 when the target could not be reached).
    statuses: list[int] = field(default_factory=list)
    delivered: bool = False
    finished: bool = False


class HookSender:
    """A daemon thread that works through deliveries, retrying failed ones."""

    def __init__(self, clock: Callable[[], float] = time.time, timeout: float = 5.0) -> None:
        self.clock = clock
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, daemon=True, name="prolific-emulator-hooks"
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def send(self, target_url: str, payload: dict[str, Any], secret: str | None) -> Delivery:
        delivery = Delivery(str(uuid.uuid4()), target_url, payload, secret)
        with self._lock:
            self.deliveries.append(delivery)
            self._pending += 1
        self._queue.put(delivery)
        return delivery

    def forget(self) -> None:
        """Drop the record of deliveries made (those still under way carry on)."""
        with self._lock:
            self.deliveries = [d for d in self.deliveries if not d.finished]

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until every delivery so far is finished (delivered or given up)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            self._deliver(delivery)
            with self._idle:
                delivery.finished = True
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        body = json.dumps(delivery.payload).encode("utf-8")
        for delay in (*RETRY_DELAYS, None):
            timestamp = str(int(self.clock()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "crowdgate-prolific-emulator",
                "X-Event-ID": delivery.event_id,
                "X-Prolific-Request-Timestamp": timestamp,
                "X-Timestamp": timestamp,
            }
            if delivery.secret is not None:
                headers["X-Prolific-Request-Signature"] = sign(delivery.secret, timestamp, body)
            delivery.attempts += 1
            status = self._post(delivery.target_url, body, headers)
            delivery.statuses.append(status)
            if 200 <= status < 300:
                delivery.delivered = True
                return
            if delay is not None:
                time.sleep(delay)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST with the header names spelled as given; 0 when the target is unreachable."""
        parts = urlsplit(url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        try:
            connection = kind(parts.netloc, timeout=self.timeout)
            try:
                connection.request("POST", target, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                return int(answer.status)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException, ValueError):
            return 0
