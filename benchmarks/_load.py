"""The load generator shared by the gunicorn benchmarks: concurrent keep-alive clients.

It is plain ``http.client`` with one keep-alive connection per client thread, spread
over several processes so the GIL of one process is not the ceiling. On a small machine
it still competes with the servers for CPU: that is why each benchmark compares figures
measured by this same generator in the same run, not absolute ones. Every answer is
checked (status and body); anything unexpected counts as an error.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from _servers import API, HOST, BenchmarkError, Gunicorn

# Connection-level failures on a reused keep-alive connection (the server closed it
# while idle) are retried once on a new connection, as browsers and urllib3 do. Every
# survey call here is idempotent: start resumes, complete returns the same code.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
#: What a client asks about: a worker id, and the completion code to verify or the
#: eligibility reason to expect (None where the phase needs neither).
Item = tuple[str, str | None]
#: The eligibility reasons that come with ``eligible: true``.
ELIGIBLE_REASONS = frozenset({"new", "resume", "repeats_allowed"})


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
        ok = (
            data.get("reason") == extra
            and data.get("eligible") is (extra in ELIGIBLE_REASONS)
            and data.get("worker_id") == worker_id
        )
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


class Recorder:
    """Runs phases, saying so as they start, and keeps each phase's rounds with the CPU
    time that the server's processes and the load generator's used meanwhile."""

    def __init__(self, loader: LoadGenerator) -> None:
        self.loader = loader
        self.results: dict[str, list[PhaseResult]] = {}

    def run(
        self, phase: Phase, server: Gunicorn, round_: int | None = None, name: str | None = None
    ) -> PhaseResult:
        """Run ``phase`` against ``server``, kept under ``name`` (the phase's by default)."""
        name = name or phase.name
        shown = name if round_ is None else f"{name} (round {round_ + 1})"
        print(f"  running {shown} ...", flush=True)
        server_before, client_before = server.cpu_seconds(), children_cpu()
        result = self.loader.run(phase)
        result.name = name
        result.server_cpu = server.cpu_seconds() - server_before
        result.client_cpu = children_cpu() - client_before
        self.results.setdefault(name, []).append(result)
        return result


# --------------------------------------------------------------------------- report


def children_cpu() -> float:
    """CPU time of the finished child processes (the load generators, once joined)."""
    try:
        import resource
    except ImportError:
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_row(cells: Sequence[str], widths: Sequence[int]) -> None:
    """One line of a report table: the first cell left-aligned, the others right."""
    pairs = enumerate(zip(cells, widths, strict=True))
    print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in pairs))
