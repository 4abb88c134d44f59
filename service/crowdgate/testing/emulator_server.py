"""What both emulators (MTurk's, Prolific's) share to serve: the threaded HTTP server, and
the base emulator that runs it on a thread of its own and keeps the faults and state file."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from crowdgate.testing.mturk_faults import Faults, FaultSettings

E = TypeVar("E", bound="ServedEmulator", covariant=True)


class EmulatorHTTPServer(ThreadingHTTPServer, Generic[E]):
    """A server whose handlers reach their emulator as ``self.server.emulator``."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connections that arrive together (each
    # then waits a second for its SYN to be resent): a client with many threads does that.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], emulator: E, handler: type[BaseHTTPRequestHandler]
    ) -> None:
        self.emulator = emulator
        super().__init__(address, handler)


class ServedEmulator:
    """An emulator's life: ``start()`` it (or use it as a context manager), then call ``url``.

    Each emulator names its request ``handler`` and its serving ``thread_name``, and
    holds a ``state`` that ``_save`` writes to ``state_path`` after every change.
    """

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str]
    state: Any  # each emulator's own, with a save(path)

    def __init__(
        self, host: str, port: int, state_path: str | Path | None, faults: FaultSettings, seed: int
    ) -> None:
        self.state_path = Path(state_path) if state_path is not None else None
        self.faults = Faults(FaultSettings(), seed=seed)
        # configure checks each setting, where Faults(settings) would take them as they are
        self.faults.configure(
            throttle_rate=faults.throttle_rate,
            error_rate=faults.error_rate,
            latency_ms=faults.latency_ms,
            commit_then_fail=faults.commit_then_fail,
        )
        self._address = (host, port)
        self._server: EmulatorHTTPServer[Self] | None = None
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()

    # -- running -----------------------------------------------------------------------

    def start(self) -> Self:
        self._server = EmulatorHTTPServer(self._address, self, self.handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name=self.thread_name
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def host_for_links(self) -> str:
        host = self._address[0]
        return "127.0.0.1" if host in ("", "0.0.0.0") else host

    @property
    def url(self) -> str:
        """The server's root; the control API is under ``/_emulator/``."""
        return f"http://{self.host_for_links}:{self.port}"

    # -- state (what the control API calls) ---------------------------------------------

    def summary(self) -> dict[str, Any]:
        raise NotImplementedError

    def seed_from_json(self, body: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def reset(self, balance: str | Decimal | None = None) -> None:
        raise NotImplementedError

    def set_balance(self, balance: str | Decimal) -> None:
        raise NotImplementedError

    def _save(self) -> None:
        if self.state_path is not None:
            with self._save_lock:
                self.state.save(self.state_path)
