"""Benchmark Prolific bonuses: 2,000 against a Prolific with 50 ms latency, crowdgate
against a researcher's scripts.

The Prolific emulator runs in its own process (``crowdgate prolific-emulator``), every
call answered after ``--latency-ms`` (50) as set through its ``/_emulator/faults``
control endpoint, for every side alike. Each side pays its own study, seeded through
``/_emulator/seed`` with ``--count`` submissions awaiting review. In the same run it
measures

    per participant  a researcher's careful script (``requests``): for each participant
                     in turn, a bulk bonus of one CSV line (POST
                     /submissions/bonus-payments/), then its pay (POST
                     /bulk-bonus-payments/{id}/pay/), each answer checked before the
                     next call. ``--baseline-sample`` (200) participants are timed and
                     the time for ``--count`` extrapolated from them (labelled so);
                     ``--full-baseline`` times them all
    one bulk         one set-up of every line and one pay: the least the platform
                     allows, with no ledger and nothing to make a lost pay answer safe
    crowdgate        a real deployment: the API under gunicorn with
                     CROWDGATE_JOB_RUNNER=queue and ``--runners`` ``crowdgate worker``
                     processes, a Prolific study whose participants came in by POST
                     /api/v1/studies/{slug}/sync, and POST /api/v1/studies/{slug}/bonuses
                     with ``dry_run: false``, timed from the POST until GET
                     /api/v1/jobs/{id} shows the job finished

and prints each side's time and rate, the per-participant script's time divided by
crowdgate's, crowdgate's divided by the one bulk's, and whether the emulator shows each
of crowdgate's participants paid exactly once (each submission's ``bonus_payments``,
read back through the emulator's API). No timing is a target. SQLite (a temporary
file) by default; --database-url for PostgreSQL (a temporary database is made on that
server and dropped afterwards). Exit status: 0 crowdgate paid everyone exactly once, 1
it did not (or its job failed), 2 the benchmark could not run, 130 interrupted.

Run:  python benchmarks/prolific_bonus.py [--count 2000] [--baseline-sample 200]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from _servers import (
    API,
    HOST,
    BenchmarkError,
    Store,
    crowdgate_command,
    crowdgate_env,
    free_port,
    load_average,
    prepare_crowdgate,
    print_server_problems,
    run_guarded,
    temporary_store,
)
from bulk_bonus import Background, Deployment, Emulator, moment, server_seconds
from crowdgate.domain.bonus_rows import BATCH

TOKEN = "prolific-benchmark-token"
BALANCE = "10000000.00"
AMOUNT = "0.50"
REASON = "Thank you for taking part."


# -------------------------------------------------------------------------- emulator


@dataclass(frozen=True)
class Seeded:
    study_id: str
    participant_ids: list[str]
    submission_ids: list[str]


class ProlificEmulator(Emulator):
    """``crowdgate prolific-emulator`` on a free port, driven through its control API
    (started, checked and slowed down as the MTurk one) and read through its own API."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.api_url = f"{self.url}/api/v1/"
        self.process = Background(
            "prolific-emulator",
            [
                *crowdgate_command(),
                "prolific-emulator",
                "--port",
                str(self.port),
                "--token",
                TOKEN,
                "--balance",
                BALANCE,
            ],
            dict(os.environ),
            workdir,
        )

    def workspace_id(self) -> str:
        return str(self.control("GET", "state")["workspace_id"])

    def payments(self) -> int:
        """Bonus payments made so far: one per line of a bulk bonus, per pay."""
        return int(self.control("GET", "state")["bonus_payments"])

    def calls(self) -> Counter[str]:
        return Counter(self.control("GET", "faults")["calls"])

    def seed_study(self, count: int) -> Seeded:
        """A study with ``count`` submissions awaiting review."""
        made = self.control("POST", "seed", {"places": count})["studies"][0]
        return Seeded(made["study_id"], made["participant_ids"], made["submission_ids"])

    def paid_times(self, study: Seeded) -> Counter[int]:
        """How many of the study's submissions carry 0, 1, 2 ... bonuses of AMOUNT; any
        other amount counts as a bonus paid twice, so it cannot pass for a right one."""
        wanted = int(Decimal(AMOUNT) * 100)
        times: dict[str, int] = dict.fromkeys(study.submission_ids, 0)
        session = researcher_session()
        url: str | None = f"{self.api_url}studies/{study.study_id}/submissions/?limit=1000"
        while url:
            page = researcher_call(session, "GET", url)
            for item in page["results"]:
                bonuses = item["bonus_payments"]
                times[item["id"]] = sum(1 if b == wanted else 2 for b in bonuses)
            url = page["_links"]["next"]["href"]
        return Counter(times.values())


def researcher_session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {TOKEN}"
    return session


def researcher_call(
    session: requests.Session, method: str, url: str, body: dict[str, Any] | None = None
) -> Any:
    """One call as a careful script makes it: checked before anything else is sent."""
    response = session.request(method, url, json=body, timeout=30)
    if not response.ok:
        raise BenchmarkError(f"{method} {url}: HTTP {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def exactly_once(times: Counter[int], count: int) -> bool:
    return times == Counter({1: count})


def describe_times(times: Counter[int]) -> str:
    names = {0: "unpaid", 1: "paid once"}
    return ", ".join(
        f"{n} {names.get(k, f'paid {k} times or a wrong amount')}" for k, n in sorted(times.items())
    )


# ------------------------------------------------------------------------- baselines


@dataclass
class Baseline:
    measured: int  # participants timed
    count: int
    seconds: float
    times: Counter[int] = field(default_factory=Counter)

    @property
    def total(self) -> float:
        """The time for all ``count`` participants: measured, or extrapolated."""
        return self.seconds / self.measured * self.count

    @property
    def rate(self) -> float:
        return self.count / self.total if self.total > 0 else math.inf

    @property
    def extrapolated(self) -> bool:
        return self.measured < self.count


def per_participant(emulator: ProlificEmulator, args: argparse.Namespace) -> Baseline:
    """A bulk bonus of one line and its pay for each of ``--baseline-sample`` participants."""
    emulator.latency(0)
    study = emulator.seed_study(args.baseline_sample)
    session = researcher_session()
    researcher_call(session, "GET", f"{emulator.api_url}users/me/")  # untimed: the connection
    set_up_url = f"{emulator.api_url}submissions/bonus-payments/"
    emulator.latency(args.latency_ms)
    before = emulator.payments()
    print(f"  per participant: {args.baseline_sample} set-ups and pays, in turn ...", flush=True)
    began = time.perf_counter()
    for participant in study.participant_ids:
        body = {"study_id": study.study_id, "csv_bonuses": f"{participant},{AMOUNT}\n"}
        bulk = researcher_call(session, "POST", set_up_url, body)
        researcher_call(session, "POST", f"{emulator.api_url}bulk-bonus-payments/{bulk['id']}/pay/")
    seconds = time.perf_counter() - began
    emulator.latency(0)
    paid = emulator.payments() - before
    if paid != args.baseline_sample:
        raise BenchmarkError(f"the per-participant script paid {paid} of {args.baseline_sample}")
    baseline = Baseline(args.baseline_sample, args.count, seconds)
    baseline.times = emulator.paid_times(study)
    return baseline


def one_bulk(emulator: ProlificEmulator, args: argparse.Namespace) -> Baseline:
    """One bulk bonus of every line, then its pay."""
    emulator.latency(0)
    study = emulator.seed_study(args.count)
    session = researcher_session()
    researcher_call(session, "GET", f"{emulator.api_url}users/me/")
    csv = "".join(f"{p},{AMOUNT}\n" for p in study.participant_ids)
    emulator.latency(args.latency_ms)
    before = emulator.payments()
    print(f"  one bulk: one set-up of {args.count} lines, one pay ...", flush=True)
    began = time.perf_counter()
    bulk = researcher_call(
        session,
        "POST",
        f"{emulator.api_url}submissions/bonus-payments/",
        {"study_id": study.study_id, "csv_bonuses": csv},
    )
    researcher_call(session, "POST", f"{emulator.api_url}bulk-bonus-payments/{bulk['id']}/pay/")
    seconds = time.perf_counter() - began
    emulator.latency(0)
    paid = emulator.payments() - before
    if paid != args.count:
        raise BenchmarkError(f"the one bulk bonus paid {paid} of {args.count}")
    baseline = Baseline(args.count, args.count, seconds)
    baseline.times = emulator.paid_times(study)
    return baseline


# ------------------------------------------------------------------------- crowdgate


@dataclass
class CrowdgateRun:
    count: int
    seconds: float = 0.0  # POST until the job was seen finished
    job_seconds: float = math.nan  # the job's started_at to finished_at
    #: The POST until the job's created_at: reading and planning the items.
    planned_seconds: float = math.nan
    #: The job's created_at to started_at: writing the ledger, then waiting for a runner.
    queued_seconds: float = math.nan
    set_up_calls: int = 0
    pay_calls: int = 0
    paid: int = 0
    #: CPU seconds used while paying: the runners, the API's processes, the emulator.
    cpu: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    load_after: str = ""
    times: Counter[int] = field(default_factory=Counter)
    job: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def succeeded(self) -> bool:
        return self.job.get("state") == "succeeded" and self.job.get("done") == self.count


def run_crowdgate(
    deployment: Deployment, emulator: ProlificEmulator, args: argparse.Namespace
) -> CrowdgateRun:
    """A fresh Prolific study of ``--count`` participants, synced from a newly seeded
    study, then paid a bonus each with the emulator answering after ``--latency-ms``."""
    run = CrowdgateRun(args.count)
    emulator.latency(0)  # the set-up is not what is measured
    study = emulator.seed_study(args.count)
    slug = f"bonus-{uuid.uuid4().hex[:8]}"
    deployment.call(
        "POST",
        f"{API}/studies",
        {"slug": slug, "platform": "prolific", "mode": "sandbox", "hit_ids": [study.study_id]},
        expect=201,
    )
    print(f"  crowdgate: syncing {args.count} participants ...", flush=True)
    began = time.perf_counter()
    answer = deployment.call("POST", f"{API}/studies/{slug}/sync", expect=202)
    synced, _ = deployment.wait(answer["job_id"], began)
    if synced["state"] != "succeeded" or synced["counts"].get("added") != args.count:
        raise BenchmarkError(f"the sync did not add {args.count} participants: {synced}")
    items = [{"worker_id": p, "amount": AMOUNT} for p in study.participant_ids]
    body = {"items": items, "reason": REASON, "dry_run": False}
    emulator.latency(args.latency_ms)
    paid_before, calls_before = emulator.payments(), emulator.calls()
    print(f"  crowdgate: paying {args.count} bonuses ...", flush=True)
    cpu_before = deployment.cpu_seconds(emulator)
    began, posted_at = time.perf_counter(), time.time()
    answer = deployment.call("POST", f"{API}/studies/{slug}/bonuses", body, expect=202)
    job, seen = deployment.wait(answer["job_id"], began)
    run.seconds = seen - began
    cpu_after = deployment.cpu_seconds(emulator)
    run.load_after = load_average()
    emulator.latency(0)
    runners, api, served = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    run.cpu = (runners, api, served)
    run.job = job
    run.job_seconds = server_seconds(job, "started_at", "finished_at")
    run.queued_seconds = server_seconds(job, "created_at", "started_at")
    run.planned_seconds = moment(job.get("created_at")) - posted_at
    run.paid = emulator.payments() - paid_before
    calls = emulator.calls()
    calls.subtract(calls_before)
    run.set_up_calls, run.pay_calls = calls["SetUpBonus"], calls["PayBonus"]
    run.times = emulator.paid_times(study)
    return run


# --------------------------------------------------------------------------- report


def report(
    loop: Baseline, bulk: Baseline, run: CrowdgateRun, runners: int, args: argparse.Namespace
) -> bool:
    print(
        f"\nProlific bonuses: {args.count} participants, emulator latency {args.latency_ms} ms "
        "per call"
    )
    per = loop.seconds / loop.measured
    if loop.extrapolated:
        how = (
            f"EXTRAPOLATED from {loop.measured} of {loop.count} participants timed in "
            f"{loop.seconds:.1f} s ({per * 1000:.1f} ms each, 2 calls)"
        )
    else:
        how = f"(all {loop.count} timed, {per * 1000:.1f} ms each, 2 calls)"
    print(f"  {'(a) per participant':<22} {loop.total:8.2f} s  {loop.rate:8.1f} bonuses/s   {how}")
    print(
        f"  {'(b) one bulk':<22} {bulk.total:8.2f} s  {bulk.rate:8.1f} bonuses/s   "
        f"(one set-up of {bulk.count} lines, one pay)"
    )
    batches = math.ceil(run.count / BATCH)
    print(
        f"  {'crowdgate':<22} {run.seconds:8.2f} s  {run.rate:8.1f} bonuses/s   "
        f"(planned in {run.planned_seconds:.2f} s, the job made and started "
        f"{run.queued_seconds:.2f} s later and ran {run.job_seconds:.2f} s; "
        f"{run.set_up_calls} set-up and {run.pay_calls} pay calls for {batches} batches "
        f"of up to {BATCH}; {run.paid} payments)"
    )
    runner_cpu, api, served = run.cpu
    print(
        f"  {'':<22} CPU meanwhile: runner{'s' if runners > 1 else ''} {runner_cpu:.1f} s, "
        f"API {api:.1f} s, emulator {served:.1f} s "
        f"({(runner_cpu + api + served) / run.seconds:.2f} CPUs busy of {os.cpu_count()}); "
        f"load average just after: {run.load_after}"
    )
    shown = "extrapolated (a)" if loop.extrapolated else "(a)"
    print("\nratios")
    print(
        f"  {shown} / crowdgate = {loop.total:.2f} / {run.seconds:.2f} = "
        f"{loop.total / run.seconds:.2f}x  (how much faster crowdgate is)"
    )
    print(
        f"  crowdgate / (b) = {run.seconds:.2f} / {bulk.total:.2f} = "
        f"{run.seconds / bulk.total:.2f}x  (what the ledger and batches of {BATCH} cost over "
        "the lower bound)"
    )
    in_turn = math.ceil(batches / runners)  # batches one runner pays, one after another
    floor = in_turn * per
    print(
        f"  at {per / 2 * 1000:.1f} ms a call, {batches} batches of a set-up and a pay each "
        f"need at least {floor:.2f} s on {runners} runner{'s' if runners > 1 else ''}: "
        f"crowdgate took {run.seconds / floor:.2f}x that; its job's running time left "
        f"{(run.job_seconds - floor) / in_turn * 1000:.0f} ms a batch besides the two calls"
    )

    print("\nexactly once (each submission's bonus_payments, read back from the emulator)")
    for label, times, count in (
        ("(a) per participant", loop.times, loop.measured),
        ("(b) one bulk", bulk.times, bulk.count),
        ("crowdgate", run.times, run.count),
    ):
        verdict = "OK" if exactly_once(times, count) else "WRONG"
        print(f"  {label:<22} {describe_times(times)}  {verdict}")
    holds = run.succeeded and exactly_once(run.times, run.count)
    if not run.succeeded:
        job = run.job
        print(
            f"crowdgate's job did not pay everyone: {job.get('state')}, {job.get('done')} of "
            f"{run.count} done, counts {job.get('counts')}, error {job.get('error')!r}"
        )
    return holds


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Pay Prolific bonuses through crowdgate against the Prolific emulator with "
            "added latency, next to a researcher's per-participant script and one bulk "
            "bonus, in one run."
        )
    )
    parser.add_argument("--count", type=int, default=2000, help="participants to pay (2000)")
    parser.add_argument(
        "--latency-ms", type=int, default=50, help="latency the emulator adds to a call (50)"
    )
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=200,
        help="participants the per-participant script pays, the rest extrapolated "
        "(200; at most --count)",
    )
    parser.add_argument(
        "--full-baseline",
        action="store_true",
        help="time the per-participant script over all --count participants",
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
    for name in ("count", "baseline_sample", "runners", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.latency_ms < 0:
        parser.error("--latency-ms must not be negative")
    if args.full_baseline:
        args.baseline_sample = args.count
    args.baseline_sample = min(args.baseline_sample, args.count)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_guarded(
        lambda cleanup, workdir: benchmark(args, cleanup, workdir), keep_logs=args.keep_logs
    )


def benchmark(args: argparse.Namespace, cleanup: ExitStack, workdir: Path) -> int:
    emulator, deployment = prepare("bonus", args, cleanup, workdir)
    loop = per_participant(emulator, args)
    bulk = one_bulk(emulator, args)
    start(deployment, cleanup)
    run = run_crowdgate(deployment, emulator, args)
    deployment.stop()
    return finish(deployment, report(loop, bulk, run, args.runners, args))


def prepare(
    what: str, args: argparse.Namespace, cleanup: ExitStack, workdir: Path
) -> tuple[ProlificEmulator, Deployment]:
    """The Prolific emulator (started), a database and a crowdgate deployment reaching
    the emulator (not started yet), and the run's header printed."""
    emulator = ProlificEmulator(workdir)
    cleanup.callback(emulator.process.stop)
    # Cleaning up runs first on the way out; a second Ctrl-C must not cut it short.
    cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
    emulator.start()
    store: Store = temporary_store(args.database_url, workdir, cleanup)
    admin_key = prepare_crowdgate(crowdgate_env(store), workdir)
    settings = {
        "CROWDGATE_PROLIFIC_API_URL": emulator.api_url,
        "CROWDGATE_PROLIFIC_TOKEN": TOKEN,
        "CROWDGATE_PROLIFIC_WORKSPACE_ID": emulator.workspace_id(),
        "CROWDGATE_PROLIFIC_RATE_LIMIT": "0",
        "CROWDGATE_JOB_RUNNER": "queue",
    }

    print(f"crowdgate Prolific {what} benchmark")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"  database: {store.shown}")
    print(f"  Prolific emulator: {emulator.url}, {args.latency_ms} ms added to every call")
    print(
        f"  crowdgate: API under gunicorn ({args.workers} worker x {args.threads} threads, "
        f"CROWDGATE_JOB_RUNNER=queue), {args.runners} `crowdgate worker` process(es)"
    )
    print(f"  load average before the run: {load_average()}", flush=True)
    return emulator, Deployment("crowdgate", store, admin_key, settings, args, workdir)


def start(deployment: Deployment, cleanup: ExitStack) -> None:
    cleanup.callback(deployment.stop)
    cleanup.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
    deployment.start()


def finish(deployment: Deployment, holds: bool) -> int:
    """Print what the deployment's processes reported; the exit status."""
    print(f"\nload average after the run: {load_average()}")
    print_server_problems([deployment.api])
    if deployment.problems():
        print("\ncrowdgate's runner logged errors; its log ends:")
        print(deployment.runners[0].log_tail())
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
