"""What both emulators' request handlers share: reading and answering JSON, running one
platform call through the fault plan (``mturk_faults``), and the control API's paths."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from crowdgate.testing.mturk_faults import COMMIT_DROP, ERROR, THROTTLE

if TYPE_CHECKING:
    from crowdgate.testing.emulator_server import EmulatorHTTPServer, ServedEmulator

MAX_BODY = 10 * 1024 * 1024
JSON = "application/json"


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Each emulator's handler says how it answers a body too large, a throttled call, a
    failed one and one done."""

    protocol_version = "HTTP/1.1"
    # One buffered write per response: headers and body sent apart meet Nagle's
    # algorithm and delayed ACKs, and every call would take 40 ms.
    wbufsize = 64 * 1024
    server: EmulatorHTTPServer[ServedEmulator]

    def log_message(self, format: str, *args: Any) -> None:
        return None  # a test run or a rehearsal does not want a line per call

    # -- plumbing ----------------------------------------------------------------------

    def _too_large(self) -> Exception:
        raise NotImplementedError

    def _raw_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise self._too_large()
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        content_type: str = JSON,
    ) -> None:
        """Answer ``payload`` as JSON (no body for None)."""
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        # Closing without a byte is what a lost response looks like to the client.
        self.close_connection = True

    # -- faults ------------------------------------------------------------------------

    def _throttle(self) -> None:
        raise NotImplementedError

    def _fail(self) -> None:
        raise NotImplementedError

    def _answer(self, result: Any) -> None:
        raise NotImplementedError

    def _call_with_faults(
        self, operation: str, call: Callable[[], Any], token: str | None = None
    ) -> None:
        """Run ``call`` (``operation`` on the state) as the fault plan says: throttled or
        failed before it runs, or run and then answered, failed after all, or dropped. What
        ``call`` raises when the platform refuses the call is for the caller to answer."""
        fault, latency = self.server.emulator.faults.decide(operation, token)
        if latency:
            time.sleep(latency)
        if fault == THROTTLE:
            self._throttle()
            return
        if fault == ERROR:
            self._fail()
            return
        result = call()
        if fault == COMMIT_DROP:
            self._drop()
        elif fault is not None:
            self._fail()
        else:
            self._answer(result)

    # -- control API -------------------------------------------------------------------

    def _control_answer(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """What the control API answers to ``method`` on ``path`` (``/_emulator/faults``
        ...), or None where there is no such path. A bad ``body`` raises KeyError,
        TypeError, ValueError or ArithmeticError; any method but GET changes something."""
        emulator = self.server.emulator
        if method == "GET":
            if path == "/_emulator/faults":
                return emulator.faults.describe()
            if path == "/_emulator/state":
                return emulator.summary()
            return {"ok": True} if path == "/_emulator/health" else None
        if path == "/_emulator/faults":
            emulator.faults.configure(**body)
            return emulator.faults.describe()
        if path == "/_emulator/fail-next":
            emulator.faults.fail_next(
                body["operation"],
                body["kind"],
                int(body.get("times", 1)),
                int(body.get("after", 0)),
            )
            return emulator.faults.describe()
        if path == "/_emulator/seed":
            return emulator.seed_from_json(body)
        if path == "/_emulator/reset":
            emulator.reset(balance=body.get("balance"))
        elif path == "/_emulator/balance":
            emulator.set_balance(body["balance"])
        else:
            return None
        return emulator.summary()
