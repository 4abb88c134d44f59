"""Benchmark bulk bonuses: 10,000 against an MTurk with 50 ms latency, crowdgate against a loop.

The MTurk emulator runs in its own process (``crowdgate mturk-emulator``), every call
answered after ``--latency-ms`` (50) as set through its ``/_emulator/faults`` control
endpoint, for both sides alike. In the same run it measures

    loop       a requester's usual script: one boto3 client calling ``send_bonus`` for each
               assignment in turn. ``--baseline-sample`` (1,000) sends are timed and the
               time for ``--count`` is extrapolated from them (labelled so);
               ``--full-baseline`` times them all (10,000 x 50 ms is over 8 minutes)
    crowdgate  a real deployment: the API under gunicorn with CROWDGATE_JOB_RUNNER=queue
               and ``--runners`` ``crowdgate worker`` processes, a sandbox MTurk study
               whose ``--count`` participants were synced from the emulator's HITs, and
               ``POST /api/v1/studies/{slug}/bonuses`` with ``dry_run: false``, timed from
               the POST until ``GET /api/v1/jobs/{id}`` shows the job finished; once per
               ``--concurrency`` value (CROWDGATE_BONUS_CONCURRENCY), each on a fresh study

and prints each side's time and rate, the loop's time divided by crowdgate's (the
target: at least 8x), and that the emulator paid each bonus exactly once. Then, unless
``--rate 0``, a crowdgate run with CROWDGATE_MTURK_RATE_LIMIT=``--rate`` over
``--rate-count`` bonuses, and its achieved rate against the limit (the target: within
10 %), taken from the emulator's grant times of the first and last bonus and, less
finely, from the job's wall time. SQLite (a temporary file) by default; --database-url
for PostgreSQL (a temporary database is made on that server and dropped afterwards).
Exit status: 0 targets hold, 1 they do not, 2 the benchmark could not run, 130
interrupted.

Run:  python benchmarks/bulk_bonus.py [--count 10000] [--concurrency 8 32] [--rate 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _servers import (
    API,
    CLOCK_TICKS,
    HOST,
    BenchmarkError,
    Gunicorn,
    Store,
    crowdgate_command,
    crowdgate_env,
    free_port,
    gunicorn_settings,
    http_json,
    load_average,
    prepare_crowdgate,
    print_server_problems,
    run_guarded,
    stop_group,
    temporary_store,
)

TARGET_RATIO = 8.0
RATE_TOLERANCE = 0.10
PER_HIT = 100
AMOUNT = "0.50"
REASON = "Thank you for taking part."
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIAEMULATOREXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "emulator-secret-not-checked",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: How often the benchmark asks whether a job has finished: the timing's resolution.
POLL_SECONDS = 0.05
JOB_TIMEOUT = 3600.0
FINISHED = ("succeeded", "failed", "cancelled")


def shipped_concurrency() -> int:
    from crowdgate.config import SETTINGS

    return int(next(s.default for s in SETTINGS if s.key == "CROWDGATE_BONUS_CONCURRENCY"))


SHIPPED_CONCURRENCY = shipped_concurrency()


# ------------------------------------------------------------------------- processes


class Background:
    """A process in its own session (Ctrl-C reaches only us), logging to a file."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], workdir: Path):
        self.name = name
        self.command = list(command)
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchmarkError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_group(process)

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (Linux /proc; else NaN)."""
        if self.process is None:
            return math.nan
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return math.nan
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class Emulator:
    """``crowdgate mturk-emulator`` on a free port, driven through its control API."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process = Background(
            "mturk-emulator",
            [
                *crowdgate_command(),
                "mturk-emulator",
                "--port",
                str(self.port),
                "--balance",
                "10000000.00",
            ],
            dict(os.environ),
            workdir,
        )

    def start(self, timeout: float = 30.0) -> None:
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process.check_alive()
            try:
                status, _ = http_json(self.port, "GET", "/_emulator/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchmarkError(f"{self.process.name} did not start within {timeout:.0f}s")

    def control(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http_json(self.port, method, f"/_emulator/{path}", body)
        if status != 200:
            raise BenchmarkError(f"emulator {method} /_emulator/{path}: HTTP {status} {answer}")
        return answer

    def latency(self, milliseconds: int) -> None:
        self.control("POST", "faults", {"latency_ms": milliseconds})

    def bonuses_paid(self) -> int:
        return int(self.control("GET", "state")["bonuses"])

    def send_bonus_calls(self) -> int:
        return int(self.control("GET", "faults")["calls"].get("SendBonus", 0))

    def seed(self, count: int) -> tuple[list[str], list[tuple[str, str]]]:
        """``count`` submitted assignments on HITs of PER_HIT: the HIT ids, and each
        assignment's (worker id, assignment id)."""
        hit_ids: list[str] = []
        pairs: list[tuple[str, str]] = []
        left = count
        while left > 0:
            per_hit = min(PER_HIT, left)
            hits = left // per_hit
            made = self.control("POST", "seed", {"hits": hits, "assignments": per_hit})
            for hit in made["hits"]:
                hit_ids.append(hit["hit_id"])
                pairs.extend(zip(hit["worker_ids"], hit["assignment_ids"], strict=True))
            left -= hits * per_hit
        return hit_ids, pairs


def mturk_client(endpoint: str) -> Any:
    """A boto3 MTurk client as a requester's script makes one: defaults throughout."""
    import boto3

    return boto3.session.Session().client(
        "mturk", endpoint_url=endpoint, region_name=FAKE_AWS["AWS_DEFAULT_REGION"]
    )


# ------------------------------------------------------------------------- crowdgate


class Deployment:
    """crowdgate as it would be deployed for big jobs: the API under gunicorn queueing
    jobs, and ``crowdgate worker`` processes running them, with the given settings."""

    def __init__(
        self,
        name: str,
        store: Store,
        admin_key: str,
        settings: dict[str, str],
        args: argparse.Namespace,
        workdir: Path,
    ) -> None:
        self.name = name
        self.env = {**crowdgate_env(store), **settings}
        self.headers = {"Authorization": f"Bearer {admin_key}"}
        self.api = Gunicorn(
            name,
            "crowdgate.wsgi:app",
            gunicorn_settings(args.workers, args.threads),
            self.env,
            workdir,
        )
        self.runners = [
            Background(
                f"worker-{name}-{i + 1}",
                [*crowdgate_command(), "worker", "--poll", str(POLL_SECONDS)],
                self.env,
                workdir,
            )
            for i in range(args.runners)
        ]

    def start(self) -> None:
        self.api.start()
        for runner in self.runners:
            runner.start()
        self.api.wait_ready(f"{API}/health")

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop()
        self.api.stop()

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = http_json(self.api.port, method, path, body, self.headers)
        if status != expect:
            raise BenchmarkError(f"{method} {path} ({self.name}): HTTP {status} {answer}")
        return answer

    def wait(self, job_id: str, started: float) -> tuple[dict[str, Any], float]:
        """Poll the job until it has finished: its last reading, and when that was seen."""
        path = f"{API}/jobs/{job_id}"
        conn = http.client.HTTPConnection(HOST, self.api.port, timeout=30)
        try:
            while True:
                conn.request("GET", path, headers=self.headers)
                response = conn.getresponse()
                raw = response.read()
                seen = time.perf_counter()
                if response.status != 200:
                    raise BenchmarkError(f"GET {path}: HTTP {response.status} {raw[:300]!r}")
                job = json.loads(raw)
                if job["state"] in FINISHED:
                    return job, seen
                if seen - started > JOB_TIMEOUT:
                    raise BenchmarkError(f"job {job_id} not finished after {JOB_TIMEOUT:.0f}s")
                for runner in self.runners:
                    runner.check_alive()
                time.sleep(POLL_SECONDS)
        finally:
            conn.close()

    def cpu_seconds(self, emulator: Emulator) -> tuple[float, float, float]:
        return (
            sum(r.cpu_seconds() for r in self.runners),
            self.api.cpu_seconds(),
            emulator.process.cpu_seconds(),
        )

    def problems(self) -> int:
        return sum(
            r.log_text().count(marker) for r in self.runners for marker in ("Traceback", "ERROR")
        )


def listen_overflows() -> int:
    """Connections dropped on this machine so far because a listen queue was full (Linux)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(row.get("ListenOverflows", 0))
    return 0


def moment(text: str | None) -> float:
    """A job's timestamp as seconds since the epoch (NaN when it has none)."""
    if not text:
        return math.nan
    stamp = datetime.fromisoformat(text)
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def server_seconds(job: dict[str, Any], start: str, end: str) -> float:
    return moment(job.get(end)) - moment(job.get(start))


@dataclass
class CrowdgateRun:
    label: str
    count: int
    concurrency: int
    rate_limit: float
    seconds: float = 0.0  # POST until the job was seen finished
    job_seconds: float = math.nan  # the job's started_at to finished_at
    #: The POST until the job's created_at: reading and planning the items.
    planned_seconds: float = math.nan
    #: The job's created_at to started_at: writing the ledger, then waiting for a runner.
    queued_seconds: float = math.nan
    send_calls: int = 0
    paid: int = 0
    listen_overflows: int = 0
    #: CPU seconds used while paying: the runners, the API's processes, the emulator.
    cpu: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    hit_ids: list[str] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def run_crowdgate(
    deployment: Deployment, emulator: Emulator, run: CrowdgateRun, latency_ms: int
) -> CrowdgateRun:
    """A fresh study of ``run.count`` participants, synced from newly seeded HITs, then
    paid a bonus each with the emulator answering after ``latency_ms``."""
    emulator.latency(0)  # the set-up is not what is measured
    hit_ids, pairs = emulator.seed(run.count)
    run.hit_ids = hit_ids
    slug = f"bonus-{uuid.uuid4().hex[:8]}"
    deployment.call(
        "POST",
        f"{API}/studies",
        {"slug": slug, "platform": "mturk", "mode": "sandbox", "hit_ids": hit_ids},
        expect=201,
    )
    print(f"  {run.label}: syncing {run.count} participants from {len(hit_ids)} HITs ...")
    began = time.perf_counter()
    answer = deployment.call("POST", f"{API}/studies/{slug}/sync", expect=202)
    synced, _ = deployment.wait(answer["job_id"], began)
    if synced["state"] != "succeeded" or synced["counts"].get("added") != run.count:
        raise BenchmarkError(f"the sync did not add {run.count} participants: {synced}")
    items = [{"worker_id": w, "assignment_id": a, "amount": AMOUNT} for w, a in pairs]
    body = {"items": items, "reason": REASON, "dry_run": False}
    emulator.latency(latency_ms)
    paid_before, calls_before = emulator.bonuses_paid(), emulator.send_bonus_calls()
    overflows_before = listen_overflows()
    print(f"  {run.label}: paying {run.count} bonuses ...", flush=True)
    cpu_before = deployment.cpu_seconds(emulator)
    began, posted_at = time.perf_counter(), time.time()
    answer = deployment.call("POST", f"{API}/studies/{slug}/bonuses", body, expect=202)
    job, seen = deployment.wait(answer["job_id"], began)
    run.seconds = seen - began
    cpu_after = deployment.cpu_seconds(emulator)
    runners, api, served = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    run.cpu = (runners, api, served)
    emulator.latency(0)
    run.job = job
    run.job_seconds = server_seconds(job, "started_at", "finished_at")
    run.queued_seconds = server_seconds(job, "created_at", "started_at")
    run.planned_seconds = moment(job.get("created_at")) - posted_at
    run.paid = emulator.bonuses_paid() - paid_before
    run.send_calls = emulator.send_bonus_calls() - calls_before
    run.listen_overflows = listen_overflows() - overflows_before
    if job["state"] != "succeeded" or job["done"] != run.count or run.paid != run.count:
        raise BenchmarkError(
            f"{run.label}: the job did not pay each of the {run.count} bonuses once "
            f"(the emulator paid {run.paid}): {json.dumps(job)[:600]}"
        )
    return run


def grant_span(endpoint: str, hit_ids: Sequence[str]) -> tuple[int, float]:
    """The bonuses paid on ``hit_ids`` and the seconds from the first grant to the last,
    as the emulator stamped them."""
    client = mturk_client(endpoint)
    paginator = client.get_paginator("list_bonus_payments")
    times: list[float] = []
    for hit_id in hit_ids:
        for page in paginator.paginate(HITId=hit_id, PaginationConfig={"PageSize": 100}):
            times.extend(p["GrantTime"].timestamp() for p in page["BonusPayments"])
    if len(times) < 2:
        return len(times), math.nan
    return len(times), max(times) - min(times)


# ------------------------------------------------------------------------------ loop


@dataclass
class LoopRun:
    measured: int
    count: int
    seconds: float

    @property
    def per_send(self) -> float:
        return self.seconds / self.measured

    @property
    def total(self) -> float:
        """The time for all ``count`` sends: measured, or extrapolated from the sample."""
        return self.per_send * self.count

    @property
    def extrapolated(self) -> bool:
        return self.measured < self.count


def run_loop(emulator: Emulator, count: int, sample: int, latency_ms: int) -> LoopRun:
    """The usual script's loop over ``sample`` of ``count`` assignments, one call after another."""
    emulator.latency(0)
    _, pairs = emulator.seed(sample)
    mturk = mturk_client(emulator.url)
    mturk.get_account_balance()  # not timed: imports, the service model, the connection
    emulator.latency(latency_ms)
    paid_before = emulator.bonuses_paid()
    print(f"  loop: {sample} sequential send_bonus calls ...", flush=True)
    began = time.perf_counter()
    for worker_id, assignment_id in pairs:
        mturk.send_bonus(
            WorkerId=worker_id, BonusAmount=AMOUNT, AssignmentId=assignment_id, Reason=REASON
        )
    seconds = time.perf_counter() - began
    emulator.latency(0)
    paid = emulator.bonuses_paid() - paid_before
    if paid != sample:
        raise BenchmarkError(f"the loop sent {sample} bonuses but the emulator paid {paid}")
    return LoopRun(sample, count, seconds)


# --------------------------------------------------------------------------- report


def met(holds: bool) -> str:
    return "MET" if holds else "NOT MET"


def describe_run(run: CrowdgateRun) -> None:
    print(
        f"  {run.label:<28} {run.seconds:8.1f} s  {run.rate:7.1f} bonuses/s   "
        f"(planned in {run.planned_seconds:.1f} s, the job made and started "
        f"{run.queued_seconds:.1f} s later and ran {run.job_seconds:.1f} s; "
        f"{run.send_calls} SendBonus calls, {run.paid} paid)"
    )
    runners, api, served = run.cpu
    print(
        f"  {'':<28} CPU meanwhile: runner {runners:.1f} s, API {api:.1f} s, emulator "
        f"{served:.1f} s ({(runners + api + served) / run.seconds:.2f} CPUs busy of "
        f"{os.cpu_count()})"
    )
    if run.listen_overflows > 0:
        print(
            f"  {'':<28} {run.listen_overflows} connections found a listen queue full "
            "meanwhile (TcpExtListenOverflows, the whole machine): each waits about 1 s "
            "for its SYN to be sent again"
        )


def report(
    loop: LoopRun,
    runs: Sequence[CrowdgateRun],
    rate_run: CrowdgateRun | None,
    rate_span: tuple[int, float],
    args: argparse.Namespace,
) -> bool:
    holds = True
    print(f"\nbulk bonuses: {args.count}, emulator latency {args.latency_ms} ms per call")
    if loop.extrapolated:
        print(
            f"  {'loop (boto3, sequential)':<28} {loop.total:8.1f} s  "
            f"{1 / loop.per_send:7.1f} bonuses/s   EXTRAPOLATED from {loop.measured} of "
            f"{loop.count} sends timed in {loop.seconds:.1f} s ({loop.per_send * 1000:.1f} ms each)"
        )
    else:
        print(
            f"  {'loop (boto3, sequential)':<28} {loop.total:8.1f} s  "
            f"{1 / loop.per_send:7.1f} bonuses/s   (all {loop.count} timed, "
            f"{loop.per_send * 1000:.1f} ms each)"
        )
    for run in runs:
        describe_run(run)
    print(f"\ntarget: crowdgate at least {TARGET_RATIO:g}x faster than the loop")
    for run in runs:
        ratio = loop.total / run.seconds
        holds = holds and ratio >= TARGET_RATIO
        shown = "extrapolated loop" if loop.extrapolated else "loop"
        print(
            f"  {run.label:<28} {shown} / crowdgate = {loop.total:.1f} / {run.seconds:.1f} "
            f"= {ratio:.2f}x  {met(ratio >= TARGET_RATIO)}"
        )
        in_flight = run.concurrency * args.runners
        ceiling = in_flight / (loop.per_send or math.inf)
        runners = f" x {args.runners} runners" if args.runners > 1 else ""
        print(
            f"  {'':<28} (concurrency {run.concurrency}{runners} at the loop's "
            f"{loop.per_send * 1000:.1f} ms per call allows at most {ceiling:.0f} bonuses/s, "
            f"{in_flight}x)"
        )
    if rate_run is not None:
        paid, span = rate_span
        by_grants = (paid - 1) / span if span > 0 else math.nan
        by_wall = rate_run.rate
        ratio = by_grants / args.rate
        inside = abs(ratio - 1) <= RATE_TOLERANCE
        holds = holds and inside
        print(f"\nrate limit: CROWDGATE_MTURK_RATE_LIMIT={args.rate:g} requests/s")
        describe_run(rate_run)
        print(
            f"  achieved {by_grants:.2f} bonuses/s between the first and the last grant "
            f"({paid} grants over {span:.2f} s, as the emulator stamped them)"
        )
        print(
            f"  achieved {by_wall:.2f} bonuses/s over the job's wall time "
            f"(POST to finished, {rate_run.seconds:.2f} s)"
        )
        print(
            f"target: achieved within {RATE_TOLERANCE:.0%} of the limit: "
            f"{by_grants:.2f} / {args.rate:g} = {ratio:.3f}  {met(inside)}"
        )
    return holds


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Pay bulk bonuses through crowdgate against MTurk's emulator with added latency, "
            "next to a plain sequential boto3 loop, in one run."
        )
    )
    parser.add_argument("--count", type=int, default=10_000, help="bonuses to pay (10000)")
    parser.add_argument(
        "--latency-ms", type=int, default=50, help="latency the emulator adds to a call (50)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[SHIPPED_CONCURRENCY],
        help=(
            "CROWDGATE_BONUS_CONCURRENCY values, one crowdgate run each "
            f"(crowdgate's default, {SHIPPED_CONCURRENCY})"
        ),
    )
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=1000,
        help="loop sends timed, the rest extrapolated (1000; at most --count)",
    )
    parser.add_argument(
        "--full-baseline", action="store_true", help="time the loop over all --count sends"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=50.0,
        help="CROWDGATE_MTURK_RATE_LIMIT for the rate-limit run (50; 0 skips it)",
    )
    parser.add_argument(
        "--rate-count", type=int, default=1000, help="bonuses in the rate-limit run (1000)"
    )
    parser.add_argument(
        "--rate-concurrency",
        type=int,
        default=None,
        help="CROWDGATE_BONUS_CONCURRENCY of the rate-limit run (the largest --concurrency)",
    )
    parser.add_argument("--runners", type=int, default=1, help="`crowdgate worker` processes (1)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers of the API (1)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (8)")
    parser.add_argument(
        "--database-url",
        default=None,
        help=(
            "a PostgreSQL server (postgresql://user@127.0.0.1:5432/db); a temporary database "
            "is created on it and dropped afterwards. Default: SQLite in a temporary directory"
        ),
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the servers' and runners' logs"
    )
    args = parser.parse_args(argv)
    for name in ("count", "baseline_sample", "rate_count", "runners", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if any(c < 1 or c > 64 for c in args.concurrency):
        parser.error("--concurrency values must be between 1 and 64 (crowdgate's range)")
    if args.latency_ms < 0 or args.rate < 0:
        parser.error("--latency-ms and --rate must not be negative")
    sample = args.count if args.full_baseline else min(args.baseline_sample, args.count)
    args.baseline_sample = sample
    if args.rate_concurrency is None:
        args.rate_concurrency = max(args.concurrency)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update({k: os.environ.get(k, v) for k, v in FAKE_AWS.items()})
    return run_guarded(
        lambda cleanup, workdir: benchmark(args, cleanup, workdir), keep_logs=args.keep_logs
    )


def deploy(
    name: str,
    settings: dict[str, str],
    store: Store,
    admin_key: str,
    args: argparse.Namespace,
    cleanup: ExitStack,
    workdir: Path,
) -> Deployment:
    deployment = Deployment(name, store, admin_key, settings, args, workdir)
    cleanup.callback(deployment.stop)
    # Cleaning up runs first on the way out; a second Ctrl-C must not cut it short.
    cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
    deployment.start()
    return deployment


def benchmark(args: argparse.Namespace, cleanup: ExitStack, workdir: Path) -> int:
    emulator = Emulator(workdir)
    cleanup.callback(emulator.process.stop)
    # Cleaning up runs first on the way out; a second Ctrl-C must not cut it short.
    cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
    emulator.start()
    store = temporary_store(args.database_url, workdir, cleanup)
    admin_key = prepare_crowdgate(crowdgate_env(store), workdir)
    base = {
        "CROWDGATE_MTURK_ENDPOINT_URL": emulator.url,
        "CROWDGATE_JOB_RUNNER": "queue",
        "CROWDGATE_MTURK_RATE_LIMIT": "0",
        **FAKE_AWS,
    }

    print("crowdgate bulk bonus benchmark")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"  database: {store.shown}")
    print(f"  MTurk emulator: {emulator.url}, {args.latency_ms} ms added to every call")
    print(
        f"  crowdgate: API under gunicorn ({args.workers} worker x {args.threads} threads, "
        f"CROWDGATE_JOB_RUNNER=queue), {args.runners} `crowdgate worker` process(es)"
    )
    print(f"  load average before the run: {load_average()}", flush=True)

    loop = run_loop(emulator, args.count, args.baseline_sample, args.latency_ms)
    runs: list[CrowdgateRun] = []
    deployments: list[Deployment] = []
    for concurrency in args.concurrency:
        settings = {**base, "CROWDGATE_BONUS_CONCURRENCY": str(concurrency)}
        deployment = deploy(
            f"crowdgate-c{concurrency}", settings, store, admin_key, args, cleanup, workdir
        )
        deployments.append(deployment)
        run = CrowdgateRun(f"crowdgate, concurrency {concurrency}", args.count, concurrency, 0)
        runs.append(run_crowdgate(deployment, emulator, run, args.latency_ms))
        deployment.stop()

    rate_run = None
    rate_span: tuple[int, float] = (0, math.nan)
    if args.rate > 0:
        settings = {
            **base,
            "CROWDGATE_BONUS_CONCURRENCY": str(args.rate_concurrency),
            "CROWDGATE_MTURK_RATE_LIMIT": f"{args.rate:g}",
        }
        deployment = deploy("crowdgate-rate", settings, store, admin_key, args, cleanup, workdir)
        deployments.append(deployment)
        rate_run = CrowdgateRun(
            f"crowdgate, {args.rate:g}/s, c {args.rate_concurrency}",
            args.rate_count,
            args.rate_concurrency,
            args.rate,
        )
        run_crowdgate(deployment, emulator, rate_run, args.latency_ms)
        deployment.stop()
        rate_span = grant_span(emulator.url, rate_run.hit_ids)

    holds = report(loop, runs, rate_run, rate_span, args)
    print_server_problems([d.api for d in deployments])
    for deployment in deployments:
        if deployment.problems():
            print(f"\n{deployment.name}'s runner logged errors; its log ends:")
            print(deployment.runners[0].log_tail())
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
