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
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from crowdgate.testing.emulator_handler import EmulatorRequestHandler
from crowdgate.testing.prolific_operations import match
from crowdgate.testing.prolific_requests import ProlificError, Request, error_body

if TYPE_CHECKING:
    from crowdgate.testing.emulator_server import EmulatorHTTPServer
    from crowdgate.testing.prolific_emulator import ProlificEmulator


class ProlificHandler(EmulatorRequestHandler):
    server: EmulatorHTTPServer[ProlificEmulator]

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

    def _too_large(self) -> Exception:
        return ProlificError(400, "The request is too large.")

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

    def _throttle(self) -> None:
        self._error(
            ProlificError(429, "Request was throttled. Expected available in 1 second."),
            {"Retry-After": "1"},
        )

    def _fail(self) -> None:
        self._send(500, error_body(500, "A server error occurred. Please try again."))

    def _answer(self, result: Any) -> None:
        status, payload = result
        self._send(status, payload)

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

        try:
            self._call_with_faults(route.operation, lambda: emulator.call(route.operation, request))
        except ProlificError as exc:
            self._error(exc)

    # -- control API -------------------------------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> None:
        emulator = self.server.emulator
        try:
            body = json.loads(raw) if method != "GET" and raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if method != "GET" and path == "/_emulator/submit/":
                emulator.submit(body["submission_id"], study_code=body.get("study_code"))
                answer = emulator.summary()
            else:
                answer = self._control_answer(method, path.removesuffix("/"), body)
        except KeyError as exc:
            self._send(400, {"error": f"missing field {exc}"})
            return
        except (TypeError, ValueError, ArithmeticError, ProlificError) as exc:
            self._send(400, {"error": str(exc)})
            return
        if answer is None:
            self._send(404, {"error": f"no such control path {path}"})
        else:
            self._send(200, answer)
