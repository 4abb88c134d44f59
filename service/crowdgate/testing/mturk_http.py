"""The emulator's HTTP side: MTurk's JSON 1.1 protocol on POST /, and a control API.

MTurk calls are POSTs to ``/`` naming the operation in ``X-Amz-Target``. Errors are
HTTP 400 (500 for ServiceFault) with ``{"__type", "Message", "TurkErrorCode"}``, which
botocore turns into ``client.exceptions.RequestError``/``ServiceFault``. Signatures are
not checked. The control API lives under ``/_emulator/`` and is never faulted.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from crowdgate.testing.emulator_handler import JSON, EmulatorRequestHandler
from crowdgate.testing.mturk_operations import OPERATIONS
from crowdgate.testing.mturk_requests import MTurkError, Params

if TYPE_CHECKING:
    from crowdgate.testing.emulator_server import EmulatorHTTPServer
    from crowdgate.testing.mturk_emulator import MTurkEmulator

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
CONTENT_TYPE = "application/x-amz-json-1.1"


class EmulatorHandler(EmulatorRequestHandler):
    server: EmulatorHTTPServer[MTurkEmulator]

    # -- plumbing ----------------------------------------------------------------------

    def _too_large(self) -> Exception:
        return MTurkError("The request is too large.", "AWS.BadRequest")

    def _body(self) -> Any:
        raw = self._raw_body()
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise MTurkError("The request body is not JSON.", "AWS.BadRequest") from None

    def _reply(self, status: int, payload: Any, content_type: str = CONTENT_TYPE) -> None:
        self._send(status, payload, {"x-amzn-RequestId": self._request_id}, content_type)

    def _throttle(self) -> None:
        self._reply(400, {"__type": "ThrottlingException", "Message": "Rate exceeded"})

    def _fail(self) -> None:
        self._reply(500, _service_fault(self._request_id))

    def _answer(self, result: Any) -> None:
        self._reply(200, result)

    # -- MTurk -------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._request_id = str(uuid.uuid4())
        if self.path.startswith("/_emulator/"):
            self._control()
            return
        if self.path.split("?")[0] != "/":
            self._reply(404, {"__type": "UnknownOperationException", "Message": "Not found"})
            return
        target = self.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        if not target.startswith(TARGET_PREFIX) or operation not in OPERATIONS:
            self._reply(
                400, {"__type": "UnknownOperationException", "Message": f"Unknown {target!r}"}
            )
            return
        try:
            params = Params(self._body())
        except MTurkError as exc:
            self._reply(exc.status, exc.body(self._request_id))
            return
        if not isinstance(params.body, dict):
            self._reply(
                400,
                MTurkError("The body must be an object.", "AWS.BadRequest").body(self._request_id),
            )
            return
        self._operation(operation, params)

    def _operation(self, operation: str, params: Params) -> None:
        token = params.raw("UniqueRequestToken")
        try:
            self._call_with_faults(
                operation,
                lambda: self.server.emulator.call(operation, params),
                token if isinstance(token, str) else None,
            )
        except MTurkError as exc:
            self._reply(exc.status, exc.body(self._request_id))

    # -- control API -------------------------------------------------------------------

    def do_GET(self) -> None:
        self._request_id = str(uuid.uuid4())
        self._control("GET")

    def _control(self, method: str = "POST") -> None:
        path = self.path.split("?")[0]
        try:
            body = self._body() if method == "POST" else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            answer = self._control_answer(method, path, body)
        except (KeyError, TypeError, ValueError, ArithmeticError, MTurkError) as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)}, JSON)
            return
        if answer is None:
            self._reply(404, {"error": f"no such control path {path}"}, JSON)
        else:
            self._reply(200, answer, JSON)


def _service_fault(request_id: str) -> dict[str, Any]:
    return MTurkError(
        "We encountered an internal error. Please try again.",
        "AWS.ServiceUnavailable",
        kind="ServiceFault",
        status=500,
    ).body(request_id)
