"""The Prolific emulator's HTTP side: Prolific's JSON REST API under /api/v1/, and a
control API under /_emulator/ (no token, never faulted).

Every API call needs ``Authorization: Token <token>`` (401 otherwise). Paths are
documented with a trailing slash; they are accepted without one too. A throttled
call is a 429 with ``Retry-After: 1``; an injected error a 500; a dropped call
closes the connection without a byte.
"""

from __future__ import annotations

import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from crowdgate.testing.mturk_faults import COMMIT_DROP, ERROR, THROTTLE
from crowdgate.testing.prolific_operations import match
from crowdgate.testing.prolific_requests import ProlificError, Request, error_body

if TYPE_CHECKING:
    from crowdgate.testing.prolific_emulator import ProlificEmulator

MAX_BODY = 10 * 1024 * 1024


class ProlificServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections that arrive together.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: ProlificEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, ProlificHandler)


class ProlificHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per response: headers and body sent apart meet Nagle's
    # algorithm and delayed ACKs, and every call would take 40 ms.
    wbufsize = 64 * 1024
    server: ProlificServer

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    # -- plumbing ----------------------------------------------------------------------

    def _raw_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ProlificError(400, "The request is too large.")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, error: ProlificError, headers: dict[str, str] | None = None) -> None:
        as_text = not self.server.emulator.structured_errors
        self._send(error.status, error.body(as_text), headers)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            raw = self._raw_body()
        except ProlificError as exc:
            self.close_connection = True
            self._error(exc)
            return
        if path.startswith("/_emulator/"):
            self._control(method, path, raw)
            return
        self._api(method, path, query, raw)

    # -- Prolific ----------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        emulator = self.server.emulator
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme != "Token" or not hmac.compare_digest(
            token.strip().encode(), emulator.token.encode()
        ):
            detail = "Invalid token." if given else "Authentication credentials were not provided."
            self._error(ProlificError(401, detail))
            return
        route, args, other_method = match(method, path)
        if route is None:
            if other_method:
                self._error(ProlificError(405, f'Method "{method}" not allowed.'))
            else:
                self._error(ProlificError(404, f"Nothing at {path}."))
            return
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            self._error(ProlificError(400, "The request body is not JSON."))
            return
        host = self.headers.get("Host") or f"{emulator.host_for_links}:{emulator.port}"
        request = Request(method, path, query, body, f"http://{host}", args)

        fault, latency = emulator.faults.decide(route.operation)
        if latency:
            time.sleep(latency)
        if fault == THROTTLE:
            self._error(
                ProlificError(429, "Request was throttled. Expected available in 1 second."),
                {"Retry-After": "1"},
            )
            return
        if fault == ERROR:
            self._send(500, _server_error())
            return
        try:
            status, payload = emulator.call(route.operation, request)
        except ProlificError as exc:
            self._error(exc)
            return
        if fault == COMMIT_DROP:
            # Closing without a byte is what a lost response looks like to the client.
            self.close_connection = True
        elif fault is not None:
            self._send(500, _server_error())
        else:
            self._send(status, payload)

    # -- control API -------------------------------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> None:
        emulator = self.server.emulator
        try:
            if method == "GET":
                if path == "/_emulator/faults/":
                    answer: Any = emulator.faults.describe()
                elif path == "/_emulator/state/":
                    answer = emulator.summary()
                elif path == "/_emulator/health/":
                    answer = {"ok": True}
                else:
                    self._send(404, {"error": f"no such control path {path}"})
                    return
                self._send(200, answer)
                return
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/_emulator/faults/":
                emulator.faults.configure(**body)
                answer = emulator.faults.describe()
            elif path == "/_emulator/fail-next/":
                emulator.faults.fail_next(
                    body["operation"],
                    body["kind"],
                    int(body.get("times", 1)),
                    int(body.get("after", 0)),
                )
                answer = emulator.faults.describe()
            elif path == "/_emulator/seed/":
                answer = emulator.seed_from_json(body)
            elif path == "/_emulator/submit/":
                emulator.submit(body["submission_id"], study_code=body.get("study_code"))
                answer = emulator.summary()
            elif path == "/_emulator/reset/":
                emulator.reset(balance=body.get("balance"))
                answer = emulator.summary()
            elif path == "/_emulator/balance/":
                emulator.set_balance(body["balance"])
                answer = emulator.summary()
            else:
                self._send(404, {"error": f"no such control path {path}"})
                return
        except KeyError as exc:
            self._send(400, {"error": f"missing field {exc}"})
            return
        except (TypeError, ValueError, ArithmeticError, ProlificError) as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, answer)


def _server_error() -> dict[str, Any]:
    return error_body(500, "A server error occurred. Please try again.")
