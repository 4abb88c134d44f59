"""Benchmark the survey hot path: start -> complete -> verify, and eligibility, under gunicorn.

The script makes a temporary directory, migrates a fresh database there (SQLite by
default; with --database-url, a temporary database on that PostgreSQL server), creates
an admin key, and starts two gunicorn servers with identical settings: crowdgate
(``crowdgate.wsgi:app``) and a bare Flask app whose one route returns a small JSON
object (benchmarks/bare_app.py). It creates a study over HTTP and then drives
``--clients`` concurrent simulated participants through the phases

    start        POST /api/v1/studies/{slug}/participants/{worker_id}/start
    complete     POST /api/v1/studies/{slug}/participants/{worker_id}/complete
    bare         GET  /ping?worker_id=...                      (the bare app)
    verify       GET  /api/v1/studies/{slug}/codes/verify?code=...&worker_id=...
    eligibility  GET  /api/v1/studies/{slug}/eligibility?worker_id=...

the last three in ``--rounds`` interleaved rounds, so that drift on the machine (other
processes, CPU frequency) hits crowdgate and the baseline alike. It prints, per phase,
requests per second, p50 and p99 latency, errors, and the ratio of crowdgate's
throughput to the bare app's, both measured in the same run by the same generator, so
the machine and the load generator's own cost largely cancel. Every answer is checked
(status and body); anything unexpected counts as an error.

The load generator is plain ``http.client`` with one keep-alive connection per client
thread, spread over several processes so the GIL of one process is not the ceiling.
On a small machine it still competes with the servers for CPU: that is why the bare
baseline is driven by the same generator and the ratio, not the absolute figures, is
what the targets are about. Only 127.0.0.1 is contacted (and the PostgreSQL server
named by --database-url, if any). Everything started is stopped on exit, Ctrl-C
included. The exit status is 0 when the targets hold, 1 when they do not, 2 when the
benchmark could not run, 130 when interrupted.

Run:  python benchmarks/survey_hot_path.py [--clients 64] [--workers 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
API = "/api/v1"
TARGET_RATIO = 0.60
TARGET_PHASES = ("verify", "eligibility")
TARGET_CLIENTS = 64
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Connection-level failures on a reused keep-alive connection (the server closed it
# while idle) are retried once on a new connection, as browsers and urllib3 do. Every
# survey call here is idempotent: start resumes, complete returns the same code.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
#: What a client asks about: a worker id, and the completion code to verify or the
#: eligibility reason to expect (None where the phase needs neither).
Item = tuple[str, str | None]


class BenchmarkError(Exception):
    """The benchmark could not run (a server did not start, a setup call failed)."""


def _stop_on_sigterm(signum: int, frame: Any) -> None:
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
        if process is None or process.poll() is not None:
            return
        # The master leads its own process group (start_new_session): signal the group,
        # so its workers go too even if the master is wedged.
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


# ----------------------------------------------------------------- load generation


@dataclass
class Phase:
    name: str
    port: int
    items: Sequence[Item]
    slug: str = ""
    survey_key: str = ""
    duration: float | None = None  # seconds; None: each item once
    warm_path: str = "/"


def build_request(phase: Phase, item: Item) -> tuple[str, str, bytes | None]:
    worker_id, extra = item
    if phase.name.startswith("bare"):
        return "GET", "/ping?" + urlencode({"worker_id": worker_id}), None
    study = f"{API}/studies/{phase.slug}"
    participant = f"{study}/participants/{quote(worker_id, safe='')}"
    if phase.name == "start":
        body = json.dumps({"assignment_id": f"as-{worker_id}"}).encode()
        return "POST", f"{participant}/start", body
    if phase.name == "complete":
        return "POST", f"{participant}/complete", None
    if phase.name == "verify":
        return (
            "GET",
            f"{study}/codes/verify?" + urlencode({"code": extra, "worker_id": worker_id}),
            None,
        )
    if phase.name == "eligibility":
        return "GET", f"{study}/eligibility?" + urlencode({"worker_id": worker_id}), None
    raise ValueError(phase.name)


def check_answer(phase: str, item: Item, status: int, data: Any) -> str | None:
    """What is wrong with an answer, or None when it is what a participant should get."""
    if status != 200:
        return f"HTTP {status}: {str(data)[:200]}"
    if not isinstance(data, dict):
        return f"not a JSON object: {str(data)[:200]}"
    worker_id, extra = item
    if phase.startswith("bare"):
        ok = data.get("ok") is True
    elif phase == "start":
        ok = data.get("status") == "started" and data.get("worker_id") == worker_id
    elif phase == "complete":
        ok = bool(data.get("completion_code")) and data.get("worker_id") == worker_id
    elif phase == "verify":
        ok = data.get("valid") is True and data.get("worker_id") == worker_id
    else:  # eligibility: extra is the expected reason
        ok = data.get("reason") == extra and data.get("worker_id") == worker_id
    return None if ok else f"unexpected answer: {json.dumps(data)[:200]}"


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    retries: int = 0
    samples: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)
    end: float = 0.0


def _client(
    phase: Phase,
    headers: dict[str, str],
    next_request: Any,
    barrier: threading.Barrier,
    go: Any,
    start_at: Any,
    result: ClientResult,
) -> None:
    def connect() -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, phase.port, timeout=60)

    conn: http.client.HTTPConnection | None = None
    try:
        conn = connect()
        conn.request("GET", phase.warm_path, headers=headers)  # opens the keep-alive
        conn.getresponse().read()
    except (OSError, http.client.HTTPException) as exc:
        result.errors += 1
        result.samples.append(f"warm-up: {exc!r}")
        conn = None
    try:
        barrier.wait(timeout=120)
    except threading.BrokenBarrierError:
        return
    go.wait()
    deadline = start_at.value + phase.duration if phase.duration else math.inf
    perf_counter = time.perf_counter
    while perf_counter() < deadline:
        request = next_request()
        if request is None:
            break
        method, path, body, item = request
        began = perf_counter()
        status, raw, failure = 0, b"", None
        for attempt in (1, 2):
            try:
                if conn is None:
                    conn = connect()
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
                failure = None
                break
            except (OSError, http.client.HTTPException) as exc:
                if conn is not None:
                    conn.close()
                conn = None
                failure = exc
                if attempt == 1 and isinstance(exc, STALE):
                    result.retries += 1
                    continue
                break
        result.latencies.append(perf_counter() - began)
        if failure is not None:
            problem: str | None = f"{type(failure).__name__}: {failure}"
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                data = raw[:200].decode(errors="replace")
            problem = check_answer(phase.name, item, status, data)
            if problem is None and phase.name == "complete":
                result.codes[item[0]] = data["completion_code"]
        if problem is not None:
            result.errors += 1
            if len(result.samples) < 5:
                result.samples.append(f"{method} {path}: {problem}")
    result.end = perf_counter()
    if conn is not None:
        conn.close()


def _load_process(
    phase: Phase, threads: int, ready: Any, go: Any, start_at: Any, results: Any
) -> None:
    """One load-generator process: ``threads`` clients sharing this process's items."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us,
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # quietly
    headers = {"X-Survey-Key": phase.survey_key, "Content-Type": "application/json"}
    requests = [(*build_request(phase, item), item) for item in phase.items]
    source: Iterator[Any] = itertools.cycle(requests) if phase.duration else iter(requests)
    lock = threading.Lock()

    def next_request() -> Any:
        with lock:
            return next(source, None)

    barrier = threading.Barrier(threads + 1)
    per_client = [ClientResult() for _ in range(threads)]
    workers = [
        threading.Thread(
            target=_client,
            args=(phase, headers, next_request, barrier, go, start_at, per_client[i]),
            daemon=True,
        )
        for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    ready.put(os.getpid())
    for worker in workers:
        worker.join()
    merged = ClientResult()
    for one in per_client:
        merged.latencies.extend(one.latencies)
        merged.errors += one.errors
        merged.retries += one.retries
        merged.samples.extend(one.samples[: max(0, 5 - len(merged.samples))])
        merged.codes.update(one.codes)
        merged.end = max(merged.end, one.end)
    results.put(merged)


@dataclass
class PhaseResult:
    name: str
    latencies: list[float]  # seconds, sorted
    errors: int
    retries: int
    seconds: float
    samples: list[str]
    codes: dict[str, str]
    server_cpu: float = math.nan  # seconds of CPU the server's processes used meanwhile
    client_cpu: float = math.nan  # and the load generator's processes

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    @classmethod
    def pooled(cls, name: str, parts: Sequence[PhaseResult]) -> PhaseResult:
        """Several rounds of one phase as one: their requests over their summed time."""
        return cls(
            name=name,
            latencies=sorted(itertools.chain.from_iterable(p.latencies for p in parts)),
            errors=sum(p.errors for p in parts),
            retries=sum(p.retries for p in parts),
            seconds=sum(p.seconds for p in parts),
            samples=list(itertools.chain.from_iterable(p.samples for p in parts))[:5],
            codes={k: v for p in parts for k, v in p.codes.items()},
            server_cpu=sum(p.server_cpu for p in parts),
            client_cpu=sum(p.client_cpu for p in parts),
        )

    def cpu_ms(self, seconds: float) -> str:
        return (
            "-"
            if math.isnan(seconds) or not self.requests
            else f"{seconds / self.requests * 1000:.2f}"
        )


def percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LoadGenerator:
    def __init__(self, clients: int, processes: int) -> None:
        self.clients = clients
        self.processes = max(1, min(processes, clients))
        self.context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        self.running: list[Any] = []

    def run(self, phase: Phase) -> PhaseResult:
        ctx = self.context
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        start_at = ctx.Value("d", 0.0)
        shares = [self.clients // self.processes] * self.processes
        for i in range(self.clients % self.processes):
            shares[i] += 1
        try:
            for index, threads in enumerate(shares):
                part = Phase(**{**phase.__dict__, "items": phase.items[index :: self.processes]})
                process = ctx.Process(
                    target=_load_process,
                    args=(part, threads, ready, go, start_at, results),
                    daemon=True,
                )
                process.start()
                self.running.append(process)
            try:
                for _ in shares:
                    ready.get(timeout=180)
                start_at.value = time.perf_counter()
                go.set()
                budget = (phase.duration or 0) + 600
                merged = [results.get(timeout=budget) for _ in shares]
            except queue.Empty:
                raise BenchmarkError(f"the load generator stalled in phase {phase.name}") from None
            for process in self.running:
                process.join(timeout=30)
        finally:
            self.stop()
        latencies = sorted(itertools.chain.from_iterable(m.latencies for m in merged))
        codes: dict[str, str] = {}
        samples: list[str] = []
        for m in merged:
            codes.update(m.codes)
            samples.extend(m.samples)
        return PhaseResult(
            name=phase.name,
            latencies=latencies,
            errors=sum(m.errors for m in merged),
            retries=sum(m.retries for m in merged),
            seconds=max(m.end for m in merged) - start_at.value,
            samples=samples[:5],
            codes=codes,
        )

    def stop(self) -> None:
        for process in self.running:
            if process.is_alive():
                process.terminate()
        for process in self.running:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        self.running = []


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

        self.server = make_url(normalise_url(url))
        self.name = f"crowdgate_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(self.server, isolation_level="AUTOCOMMIT")
        self._execute(f'CREATE DATABASE "{self.name}"')
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


# --------------------------------------------------------------------------- report


def children_cpu() -> float:
    """CPU time of the finished child processes (the load generators, once joined)."""
    try:
        import resource
    except ImportError:
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def print_row(cells: Sequence[str]) -> None:
    widths = (12, 8, 6, 7, 7, 7, 7, 7, 10, 10)
    pairs = enumerate(zip(cells, widths, strict=True))
    print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in pairs))


def report(rounds: dict[str, list[PhaseResult]], args: argparse.Namespace, backend: str) -> bool:
    results = [PhaseResult.pooled(name, parts) for name, parts in rounds.items()]
    baseline = next(r for r in results if r.name == "bare").rps
    print()
    print_row(
        (
            "phase", "requests", "errors", "retries", "req/s", "vs bare",
            "p50 ms", "p99 ms", "server CPU", "client CPU",
        )
    )  # fmt: skip
    for r in results:
        ratio = "" if r.name == "bare" else f"{r.rps / baseline:.2f}"
        print_row(
            (
                r.name,
                str(r.requests),
                str(r.errors),
                str(r.retries),
                f"{r.rps:.0f}",
                ratio,
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                r.cpu_ms(r.server_cpu),
                r.cpu_ms(r.client_cpu),
            )
        )
    print(
        f"(read phases pooled over {args.rounds} interleaved rounds; vs bare: crowdgate's req/s "
        "divided by the bare app's;\n CPU: milliseconds of CPU per request used by the server's "
        "gunicorn processes and by the load generator)"
    )
    if args.rounds > 1:
        bare_rounds = [p.rps for p in rounds["bare"]]
        print("per round: bare req/s " + " ".join(f"{x:.0f}" for x in bare_rounds), end="")
        for name in TARGET_PHASES:
            shares = [p.rps / b for p, b in zip(rounds[name], bare_rounds, strict=True)]
            print(f"; {name} vs bare " + " ".join(f"{x:.2f}" for x in shares), end="")
        print()
    for r in results:
        for sample in r.samples:
            print(f"  {r.name} error: {sample}")

    print("\ntargets")
    holds = True
    for name in TARGET_PHASES:
        found = next(r for r in results if r.name == name)
        share = found.rps / baseline
        met = share >= TARGET_RATIO
        holds &= met
        print(
            f"  {name:<12} >= {TARGET_RATIO:.2f} x bare throughput: {share:.2f}"
            f"  {'MET' if met else 'NOT MET'}"
        )
    errors = sum(r.errors for r in results)
    met = errors == 0
    holds &= met
    note = ""
    if args.clients != TARGET_CLIENTS or backend != "sqlite":
        note = (
            f" (the target is stated for {TARGET_CLIENTS} clients on SQLite; "
            f"this run: {args.clients} clients on {backend})"
        )
    print(
        f"  zero errors with {args.clients} clients: {errors} errors  "
        f"{'MET' if met else 'NOT MET'}{note}"
    )
    return holds


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Drive concurrent simulated participants through crowdgate's survey hot path "
            "and compare with a bare Flask app under identical gunicorn settings."
        )
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, both apps (2)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker, both (8)")
    parser.add_argument(
        "--participants", type=int, default=2000, help="workers to start and complete (2000)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=20000,
        help="requests in each of the verify, eligibility and bare phases (20000)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="run verify, eligibility and bare for this many seconds each instead of --requests",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help=(
            "split the read phases into this many interleaved rounds of bare, verify and "
            "eligibility, so drift on the machine hits all three alike (3)"
        ),
    )
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
            "a PostgreSQL server (postgresql://user@127.0.0.1:5432/db); a temporary database "
            "is created on it and dropped afterwards. Default: SQLite in a temporary directory"
        ),
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="print the gunicorn logs' paths and keep them"
    )
    args = parser.parse_args(argv)
    names = ("clients", "workers", "threads", "participants", "requests", "rounds")
    for name in (*names, "load_processes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    loader = LoadGenerator(args.clients, args.load_processes)
    servers: list[Gunicorn] = []
    try:
        with ExitStack() as cleanup:
            workdir = Path(tempfile.mkdtemp(prefix="crowdgate-bench-"))
            if not args.keep_logs:
                cleanup.callback(shutil.rmtree, workdir, True)
            cleanup.callback(loader.stop)
            if args.database_url:
                database = TemporaryPostgres(args.database_url)
                cleanup.callback(database.drop)
                db_url, backend = database.url, "postgresql"
                shown = f"postgresql, temporary database {database.name}"
            else:
                db_url, backend = f"sqlite:///{workdir / 'crowdgate.db'}", "sqlite"
                shown = f"sqlite, {workdir / 'crowdgate.db'}"
            env = {
                **os.environ,
                "CROWDGATE_DATABASE_URL": db_url,
                # Every simulated participant shares one address and one survey key.
                "CROWDGATE_SURVEY_RATE_LIMIT": "1000000 per minute",
            }
            run_cli(["db", "upgrade"], env, workdir)
            admin_key = run_cli(["keys", "create", "--admin", "--name", "bench"], env, workdir)
            admin_key = admin_key.strip().splitlines()[0]

            settings = [
                "--workers", str(args.workers),
                "--threads", str(args.threads),
                "--worker-class", "gthread",
                "--log-level", "warning",
            ]  # fmt: skip
            crowdgate = Gunicorn("crowdgate", "crowdgate.wsgi:app", settings, env, workdir)
            bare = Gunicorn("bare", "bare_app:app", settings, env, workdir)
            servers = [crowdgate, bare]
            for server in servers:
                cleanup.callback(server.stop)
                server.start()
            # Cleaning up runs first thing on the way out; a second Ctrl-C must not cut it short.
            cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
            crowdgate.wait_ready(f"{API}/health")
            bare.wait_ready("/ping")

            slug = f"bench-{uuid.uuid4().hex[:8]}"
            status, study = http_json(
                crowdgate.port,
                "POST",
                f"{API}/studies",
                {
                    "slug": slug,
                    "platform": "none",
                    "conditions": [
                        {"name": "control", "target": args.participants},
                        {"name": "treatment", "target": args.participants},
                    ],
                },
                {"Authorization": f"Bearer {admin_key}"},
            )
            if status != 201:
                raise BenchmarkError(f"creating the study failed: HTTP {status} {study}")

            print("crowdgate survey hot-path benchmark")
            print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs")
            print(f"  gunicorn (both apps): {' '.join(settings[:6])}")
            print(
                f"  load: {args.clients} keep-alive clients in {loader.processes} processes; "
                f"{args.participants} participants; "
                + (
                    f"{args.duration:g} s per read phase"
                    if args.duration
                    else f"{args.requests} requests per read phase"
                )
                + f" in {args.rounds} rounds"
            )
            print(f"  database: {shown}")
            for server in servers:
                assert server.process is not None
                print(
                    f"  {server.name}: http://{HOST}:{server.port}/ "
                    f"(gunicorn master pid {server.process.pid})"
                )
            print(f"  load average before the run: {load_average()}")

            workers = [f"bench-w{i:06d}" for i in range(args.participants)]
            common = {"slug": slug, "survey_key": study["survey_key"], "duration": None}
            on_crowdgate = {**common, "port": crowdgate.port, "warm_path": f"{API}/health"}

            def share(items: Sequence[Item], round_: int) -> Sequence[Item]:
                """This round's requests: the next stretch of the items, wrapping around."""
                if args.duration:
                    return items
                first = args.requests * round_ // args.rounds
                count = args.requests * (round_ + 1) // args.rounds - first
                return [items[(first + i) % len(items)] for i in range(count)]

            results: dict[str, list[PhaseResult]] = {}

            def run(phase: Phase, round_: int | None = None) -> PhaseResult:
                shown = phase.name if round_ is None else f"{phase.name} (round {round_ + 1})"
                print(f"  running {shown} ...", flush=True)
                server = bare if phase.port == bare.port else crowdgate
                server_before, client_before = server.cpu_seconds(), children_cpu()
                result = loader.run(phase)
                result.server_cpu = server.cpu_seconds() - server_before
                result.client_cpu = children_cpu() - client_before
                results.setdefault(phase.name, []).append(result)
                return result

            plain = [(w, None) for w in workers]
            run(Phase(name="start", items=plain, **on_crowdgate))
            completed = run(Phase(name="complete", items=plain, **on_crowdgate))
            with_codes = [(w, completed.codes[w]) for w in workers if w in completed.codes]
            if not with_codes:
                raise BenchmarkError("no participant completed; nothing to verify")
            # Half the asks are about workers who took part, half about new ones.
            asks = [
                pair
                for i, w in enumerate(workers)
                for pair in ((w, "already_participated"), (f"bench-new{i:06d}", "new"))
            ]
            duration = args.duration / args.rounds if args.duration else None
            bare_reads = {**common, "duration": duration, "port": bare.port, "warm_path": "/ping"}
            crowdgate_reads = {**on_crowdgate, "duration": duration}
            for round_ in range(args.rounds):
                run(Phase(name="bare", items=share(plain, round_), **bare_reads), round_)
                run(
                    Phase(name="verify", items=share(with_codes, round_), **crowdgate_reads), round_
                )
                run(Phase(name="eligibility", items=share(asks, round_), **crowdgate_reads), round_)

            holds = report(results, args, backend)
            for server in servers:
                problems = server.log_problems()
                if problems:
                    print(f"\ngunicorn ({server.name}) logged {problems} errors; its log ends:")
                    print(server.log_tail())
            if args.keep_logs:
                print(f"\nlogs kept in {workdir}")
            return 0 if holds else 1
    except KeyboardInterrupt:
        print("\ninterrupted; servers and load generators stopped", file=sys.stderr)
        return 130
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
