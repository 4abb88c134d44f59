"""Servers and set-up shared by the benchmarks that drive crowdgate under gunicorn.

Each benchmark makes a temporary directory, migrates a fresh database (SQLite there, or
a temporary database on the PostgreSQL server named by --database-url), creates an
admin key and starts gunicorn masters on free ports of 127.0.0.1, each in its own
process group so that everything started is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
API = "/api/v1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class BenchmarkError(Exception):
    """The benchmark could not run (a server did not start, a setup call failed)."""


def stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """One gunicorn master in its own process group, logging to a file."""

    def __init__(
        self, name: str, app: str, settings: Sequence[str], env: dict[str, str], workdir: Path
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = workdir / f"gunicorn-{name}.log"
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"{HOST}:{self.port}",
            "--pythonpath",
            str(HERE),
            *settings,
        ]
        self.env = env
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop it ourselves
            )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BenchmarkError(
                    f"gunicorn ({self.name}) exited with {self.process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchmarkError(f"gunicorn ({self.name}) not ready after {timeout:.0f}s")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the master and its workers (Linux /proc; else NaN)."""
        if self.process is None:
            return math.nan
        master, total = self.process.pid, 0.0
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return math.nan
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile, or not ours to read
            if pid == master or int(fields[1]) == master:
                total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return total

    def describe(self) -> str:
        pid = self.process.pid if self.process is not None else "-"
        return f"http://{HOST}:{self.port}/ (gunicorn master pid {pid})"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> int:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(
            text.count(marker) for marker in ("Traceback", "[ERROR]", "[CRITICAL]", "TIMEOUT")
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process that leads its own process group (start_new_session): the group is
    signalled, so its children go too even if the leader is wedged; SIGKILL if SIGTERM
    is not enough."""
    if process is None or process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------- set-up


def crowdgate_command() -> list[str]:
    script = Path(sys.executable).with_name("crowdgate")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from crowdgate.cli import main; sys.exit(main())"]


def run_cli(args: Sequence[str], env: dict[str, str], workdir: Path) -> str:
    done = subprocess.run(
        [*crowdgate_command(), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"crowdgate {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


class TemporaryPostgres:
    """A fresh database on the server named by --database-url, dropped afterwards."""

    def __init__(self, url: str) -> None:
        from crowdgate.db import normalise_url
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        self.server = make_url(normalise_url(url))
        self.name = f"crowdgate_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            self._execute(f'CREATE DATABASE "{self.name}"')
        except SQLAlchemyError as exc:
            self.admin.dispose()
            # A server that is down is a benchmark that could not run (exit 2), not a crash.
            raise BenchmarkError(
                f"cannot create a database on {self.server.render_as_string()}: {exc}"
            ) from None
        self.url = self.server.set(database=self.name).render_as_string(hide_password=False)

    def _execute(self, sql: str) -> None:
        from sqlalchemy import text

        with self.admin.connect() as connection:
            connection.execute(text(sql))

    def drop(self) -> None:
        try:
            self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            self.admin.dispose()


def http_json(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


@dataclass(frozen=True)
class Store:
    """The database a crowdgate server of the benchmark uses."""

    url: str
    backend: str  # sqlite | postgresql
    shown: str  # how the header names it


def temporary_store(
    database_url: str | None, workdir: Path, cleanup: ExitStack, name: str = "crowdgate"
) -> Store:
    """A fresh database: SQLite ``<name>.db`` in the work directory, or a temporary
    database on the PostgreSQL server of ``database_url``, dropped on cleanup."""
    if database_url:
        database = TemporaryPostgres(database_url)
        cleanup.callback(database.drop)
        return Store(database.url, "postgresql", f"postgresql, temporary database {database.name}")
    path = workdir / f"{name}.db"
    return Store(f"sqlite:///{path}", "sqlite", f"sqlite, {path}")


def crowdgate_env(store: Store) -> dict[str, str]:
    return {
        **os.environ,
        "CROWDGATE_DATABASE_URL": store.url,
        # Every simulated participant shares one address and one survey key.
        "CROWDGATE_SURVEY_RATE_LIMIT": "1000000 per minute",
    }


def prepare_crowdgate(env: dict[str, str], workdir: Path) -> str:
    """Migrate the database of ``env`` and return a new admin key for it."""
    run_cli(["db", "upgrade"], env, workdir)
    admin_key = run_cli(["keys", "create", "--admin", "--name", "bench"], env, workdir)
    return admin_key.strip().splitlines()[0]


def gunicorn_settings(workers: int, threads: int) -> list[str]:
    return [
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--log-level", "warning",
    ]  # fmt: skip


def start_servers(servers: Sequence[Gunicorn], cleanup: ExitStack) -> None:
    for server in servers:
        cleanup.callback(server.stop)
        server.start()
    # Cleaning up runs first thing on the way out; a second Ctrl-C must not cut it short.
    cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)


def print_server_problems(servers: Sequence[Gunicorn]) -> None:
    for server in servers:
        problems = server.log_problems()
        if problems:
            print(f"\ngunicorn ({server.name}) logged {problems} errors; its log ends:")
            print(server.log_tail())


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# ----------------------------------------------------------------------------- main


def add_run_options(parser: argparse.ArgumentParser, *, servers: str, databases: str) -> None:
    """The options every gunicorn benchmark takes: the load, the servers, the database."""
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--workers", type=int, default=2, help=f"gunicorn workers, {servers} (2)")
    parser.add_argument("--threads", type=int, default=8, help=f"threads per worker, {servers} (8)")
    parser.add_argument(
        "--load-processes",
        type=int,
        default=os.cpu_count() or 2,
        help="load-generator processes, the clients split among them (CPU count)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help=(
            f"a PostgreSQL server (postgresql://user@127.0.0.1:5432/db); {databases} "
            "created on it and dropped afterwards. Default: SQLite in a temporary directory"
        ),
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="print the gunicorn logs' paths and keep them"
    )


def check_at_least_one(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]
) -> None:
    for name in ("clients", "workers", "threads", "load_processes", *names):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")


def run_guarded(body: Callable[[ExitStack, Path], int], *, keep_logs: bool) -> int:
    """Run ``body(cleanup, workdir)`` in a temporary directory, everything it registers
    on ``cleanup`` undone on the way out; a failed set-up exits 2, Ctrl-C or SIGTERM 130."""
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with ExitStack() as cleanup:
            workdir = Path(tempfile.mkdtemp(prefix="crowdgate-bench-"))
            if not keep_logs:
                cleanup.callback(shutil.rmtree, workdir, True)
            status = body(cleanup, workdir)
            if keep_logs:
                print(f"\nlogs kept in {workdir}")
            return status
    except KeyboardInterrupt:
        print("\ninterrupted; servers and load generators stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
