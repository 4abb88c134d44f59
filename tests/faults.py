"""A real TCP proxy that misbehaves on purpose, for tests of retries and idempotency.

It sits between a client and a LiveServer and handles one HTTP request per client
connection (answering with ``Connection: close``). Each request takes the first
queued fault whose method and path match, else it is forwarded as is:

- ``drop_after_answer``: forward, let the server act and answer, read the answer,
  then close the client's connection without a byte: the case where a retry is
  only safe with an idempotency key;
- ``drop_before_forward``: close the client's connection without forwarding;
- ``answer``: answer with a given status, headers and body without forwarding (a 503
  from a load balancer, a 429 with Retry-After);
- ``delay``: wait, then forward (to make a client time out).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


@dataclass
class Fault:
    kind: str  # "drop_after_answer", "drop_before_forward", "answer" or "delay"
    times: int
    method: str | None = None
    path: str | None = None  # a prefix of the request's path
    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.split("?")[0].startswith(self.path)
        )


@dataclass
class Seen:
    """One request as the proxy saw it, and what it did with it."""

    method: str
    path: str
    headers: dict[str, str]
    action: str  # "forward" or a Fault's kind
    upstream_status: int | None = None  # the server's answer, if it got the request


class FaultProxy:
    """Listens on a random local port and forwards to ``target`` (an http:// URL)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        # accept() wakes up now and then to see whether the proxy was closed.
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    # -- what to do to the next matching requests

    def add(self, fault: Fault) -> FaultProxy:
        with self._lock:
            self._faults.append(fault)
        return self

    def drop_after_answer(
        self, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> FaultProxy:
        return self.add(Fault("drop_after_answer", times, method, path))

    def drop_before_forward(
        self, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> FaultProxy:
        return self.add(Fault("drop_before_forward", times, method, path))

    def answer(
        self,
        status: int,
        times: int = 1,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        method: str | None = None,
        path: str | None = None,
    ) -> FaultProxy:
        return self.add(
            Fault("answer", times, method, path, status=status, headers=headers or {}, body=body)
        )

    def delay(
        self, seconds: float, times: int = 1, *, method: str | None = None, path: str | None = None
    ) -> FaultProxy:
        return self.add(Fault("delay", times, method, path, seconds=seconds))

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                seen
                for seen in self.seen
                if (method is None or seen.method == method)
                and (path is None or seen.path.split("?")[0].startswith(path))
            ]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the proxy itself

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            client.settimeout(30)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                request = _read_request(client)
            except (OSError, ValueError):
                return
            if request is None:
                return
            head, body = request
            method, path, headers = _parse_head(head)
            fault = self._take(method, path)
            seen = Seen(method, path, headers, fault.kind if fault else "forward")
            with self._lock:
                self.seen.append(seen)
            try:
                self._handle(client, fault, head, body, seen)
            except OSError:
                pass  # the client gave up (a timeout) or the server went away

    def _handle(
        self, client: socket.socket, fault: Fault | None, head: bytes, body: bytes, seen: Seen
    ) -> None:
        if fault is not None and fault.kind == "drop_before_forward":
            return
        if fault is not None and fault.kind == "answer":
            client.sendall(_canned(fault.status, fault.headers, fault.body))
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        answer = self._forward(head, body)
        seen.upstream_status = int(answer.split(b" ", 2)[1])
        if fault is not None and fault.kind == "drop_after_answer":
            # The server has acted and answered; the client hears nothing.
            client.shutdown(socket.SHUT_RDWR)
            return
        client.sendall(answer)

    def _forward(self, head: bytes, body: bytes) -> bytes:
        with socket.create_connection(self.target, timeout=30) as upstream:
            upstream.sendall(_with_close(head) + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        answer = b"".join(chunks)
        # The server closes after answering: the client must not keep the connection.
        answer_head, _, answer_body = answer.partition(b"\r\n\r\n")
        return _with_close(answer_head) + answer_body


def _read_request(sock: socket.socket) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_HEADER_BYTES:
            raise ValueError("request head too large")
    head, _, body = data.partition(b"\r\n\r\n")
    _, _, headers = _parse_head(head + b"\r\n\r\n")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raise ValueError("chunked request bodies are not supported by this proxy")
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n", body[:length]


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


def _with_close(head: bytes) -> bytes:
    """The head (with or without its blank line) saying ``Connection: close``."""
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


def _canned(status: int, headers: Mapping[str, str], body: bytes) -> bytes:
    reason = HTTPStatus(status).phrase
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return _with_close("\r\n".join(lines).encode("latin-1")) + body
