"""The emulator's HTTP side: MTurk's JSON 1.1 protocol on POST /, and a control API.

MTurk calls are POSTs to ``/`` naming the operation in ``X-Amz-Target``. Errors are
HTTP 400 (500 for ServiceFault) with ``{"__type", "Message", "TurkErrorCode"}``, which
botocore turns into ``client.exceptions.RequestError``/``ServiceFault``. Signatures are
not checked. The control API lives under ``/_emulator/`` and is never faulted.
"""

from __future__ import annotations

import json
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from crowdgate.testing.mturk_faults import COMMIT_DROP, ERROR, THROTTLE
from crowdgate.testing.mturk_operations import OPERATIONS
from crowdgate.testing.mturk_requests import MTurkError, Params

if TYPE_CHECKING:
    from crowdgate.testing.mturk_emulator import MTurkEmulator

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY = 10 * 1024 * 1024


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections that arrive together (each
    # then waits a second for its SYN to be resent): a client with many threads does that.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: MTurkEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, EmulatorHandler)


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One buffered write per response: headers and body sent apart meet Nagle's
    # algorithm and delayed ACKs, and every call would take 40 ms.
    wbufsize = 64 * 1024
    server: EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        return None  # a test run or a rehearsal does not want a line per call

    # -- plumbing ----------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise MTurkError("The request is too large.", "AWS.BadRequest")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise MTurkError("The request body is not JSON.", "AWS.BadRequest") from None

    def _send(self, status: int, payload: Any, content_type: str = CONTENT_TYPE) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", self._request_id)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        # Closing without a byte is what a lost response looks like to the client.
        self.close_connection = True

    # -- MTurk -------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._request_id = str(uuid.uuid4())
        if self.path.startswith("/_emulator/"):
            self._control()
            return
        if self.path.split("?")[0] != "/":
            self._send(404, {"__type": "UnknownOperationException", "Message": "Not found"})
            return
        target = self.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or operation not in OPERATIONS:
            self._send(
                400, {"__type": "UnknownOperationException", "Message": f"Unknown {target!r}"}
            )
            return
        try:
            params = Params(self._body())
        except MTurkError as exc:
            self._send(exc.status, exc.body(self._request_id))
            return
        if not isinstance(params.body, dict):
            self._send(
                400,
                MTurkError("The body must be an object.", "AWS.BadRequest").body(self._request_id),
            )
            return
        self._operation(operation, params)

    def _operation(self, operation: str, params: Params) -> None:
        emulator = self.server.emulator
        token = params.raw("UniqueRequestToken")
        fault, latency = emulator.faults.decide(
            operation, token if isinstance(token, str) else None
        )
        if latency:
            time.sleep(latency)
        if fault == THROTTLE:
            self._send(400, {"__type": "ThrottlingException", "Message": "Rate exceeded"})
            return
        if fault == ERROR:
            self._send(500, _service_fault(self._request_id))
            return
        try:
            result = emulator.call(operation, params)
        except MTurkError as exc:
            self._send(exc.status, exc.body(self._request_id))
            return
        if fault == COMMIT_DROP:
            self._drop()
        elif fault is not None:
            self._send(500, _service_fault(self._request_id))
        else:
            self._send(200, result)

    # -- control API -------------------------------------------------------------------

    def do_GET(self) -> None:
        self._request_id = str(uuid.uuid4())
        emulator = self.server.emulator
        path = self.path.split("?")[0]
        if path == "/_emulator/faults":
            self._send(200, emulator.faults.describe(), "application/json")
        elif path == "/_emulator/state":
            self._send(200, emulator.summary(), "application/json")
        elif path == "/_emulator/health":
            self._send(200, {"ok": True}, "application/json")
        else:
            self._send(404, {"error": f"no such control path {path}"}, "application/json")

    def _control(self) -> None:
        emulator = self.server.emulator
        path = self.path.split("?")[0]
        try:
            body = self._body()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/_emulator/faults":
                emulator.faults.configure(**body)
                answer: Any = emulator.faults.describe()
            elif path == "/_emulator/fail-next":
                emulator.faults.fail_next(
                    body["operation"],
                    body["kind"],
                    int(body.get("times", 1)),
                    int(body.get("after", 0)),
                )
                answer = emulator.faults.describe()
            elif path == "/_emulator/seed":
                answer = emulator.seed_from_json(body)
            elif path == "/_emulator/reset":
                emulator.reset(balance=body.get("balance"))
                answer = emulator.summary()
            elif path == "/_emulator/balance":
                emulator.set_balance(body["balance"])
                answer = emulator.summary()
            else:
                self._send(404, {"error": f"no such control path {path}"}, "application/json")
                return
        except (KeyError, TypeError, ValueError, ArithmeticError, MTurkError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)}, "application/json")
            return
        self._send(200, answer, "application/json")


def _service_fault(request_id: str) -> dict[str, Any]:
    return MTurkError(
        "We encountered an internal error. Please try again.",
        "AWS.ServiceUnavailable",
        kind="ServiceFault",
        status=500,
    ).body(request_id)
