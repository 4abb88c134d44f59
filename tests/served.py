"""A real `crowdgate serve` process group for tests that kill it mid-job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.http import ApiClient

#: The stale limit crash tests give their services: a killed job is taken over soon
#: after, while a live one on a loaded machine (a heartbeat a row) is never thought dead.
STALE_SECONDS = 3

#: How long an emulator's counters must stand still before the calls a killed process
#: had sent are taken to have all landed.
QUIET_SECONDS = 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """`crowdgate serve` in its own process group (so SIGKILL reaches every process),
    running jobs in its own runner thread; its output goes to a file."""

    def __init__(
        self, db_url: str, env: dict[str, str], cwd: Path, *, worker: bool = False
    ) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.api = f"{self.url}/api/v1"
        self.log = cwd / f"serve-{port}.log"
        # On SQLite serve always runs jobs itself; elsewhere only with --worker.
        options = ["--worker"] if worker else []
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crowdgate.cli", "serve", "--port", str(port), *options],
                cwd=cwd,
                env={**env, "CROWDGATE_DATABASE_URL": db_url},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with ApiClient(self.url) as probe:
                    probe.get("/health", timeout=2)
                return
            except OSError:
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.1)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


@contextmanager
def serving(
    db_url: str, settings: Mapping[str, str], cwd: Path, *, worker: bool | None = None
) -> Iterator[Callable[[], Served]]:
    """A factory of `crowdgate serve` processes on ``db_url`` with ``settings`` over the
    test's environment; each one started is stopped at the end. ``worker`` (runs jobs
    itself): by default on PostgreSQL, where serve otherwise leaves them to a worker."""
    env = {**os.environ, **settings}
    env.pop("CROWDGATE_TEST_DATABASE_URL", None)
    runs_jobs = db_url.startswith("postgresql") if worker is None else worker
    started: list[Served] = []

    def start() -> Served:
        started.append(Served(db_url, env, cwd, worker=runs_jobs))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def wait_until_quiet(faults: Any, *, timeout: float = 30) -> None:
    """Return once an emulator has stopped receiving and carrying out calls: the calls a
    killed process had already sent arrive and take effect after it is gone (a loaded
    machine may hold them a while), and a restarted one must not look before they do."""
    deadline = time.monotonic() + timeout
    seen = None
    still_since = time.monotonic()
    while True:
        now = (sum(faults.calls.values()), sum(faults.committed.values()))
        if now != seen:
            seen, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= QUIET_SECONDS:
            return
        assert time.monotonic() < deadline, "the emulator never went quiet"
        time.sleep(0.05)
