"""Benchmark Prolific review: 1,000 approvals against a Prolific with 50 ms latency,
crowdgate against a researcher's script.

The Prolific emulator runs in its own process (``crowdgate prolific-emulator``), every
call answered after ``--latency-ms`` (50) as set through its ``/_emulator/faults``
control endpoint, for both sides alike. Each side reviews its own study, seeded through
``/_emulator/seed`` with ``--count`` submissions awaiting review, each carrying the
study's completion code. In the same run it measures

    script     a researcher's script (``requests``, one keep-alive session): POST
               /submissions/{id}/transition/ with ``{"action": "APPROVE"}`` for each
               submission in turn, each answer checked before the next call
    crowdgate  a real deployment: the API under gunicorn with CROWDGATE_JOB_RUNNER=queue
               and ``--runners`` ``crowdgate worker`` processes; a Prolific study whose
               platform_completion_code is the seeded study's code, every participant
               started and completed through the survey endpoints (so crowdgate has
               recorded each completion) and synced, then POST
               /api/v1/studies/{slug}/review with ``dry_run: false``, timed from the POST
               until GET /api/v1/jobs/{id} shows the job finished. crowdgate approves
               with Prolific's bulk approve, 100 submissions a call

and prints each side's time and rate, the script's time divided by crowdgate's, the
calls the emulator received (BulkApprove, TransitionSubmission), and whether every
submission of each side ended APPROVED exactly once: its status read back through the
emulator's API, and the rewards the emulator charged (it charges a submission's reward
each time it approves it) equal to one reward per submission. No timing is a target.
SQLite (a temporary file) by default; --database-url for PostgreSQL (a temporary
database is made on that server and dropped afterwards). Exit status: 0 crowdgate's
job succeeded and approved every submission exactly once, 1 it did not, 2 the
benchmark could not run, 130 interrupted.

Run:  python benchmarks/prolific_review.py [--count 1000] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import math
import os
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
from urllib.parse import quote

import requests
from _servers import (
    API,
    HOST,
    BenchmarkError,
    load_average,
    run_guarded,
)
from bulk_bonus import Deployment, moment, server_seconds
from crowdgate.platforms.prolific import BULK_APPROVE
from prolific_bonus import (
    ProlificEmulator,
    Seeded,
    finish,
    prepare,
    researcher_call,
    researcher_session,
    start,
)

CODE = "C1REVIEW"
REWARD = "1.50"
APPROVED = "APPROVED"
#: What the emulator counts the two ways of approving as (``/_emulator/faults`` calls).
BULK_CALL, ONE_CALL = "BulkApprove", "TransitionSubmission"


# -------------------------------------------------------------------------- emulator


def seed_awaiting_review(emulator: ProlificEmulator, count: int) -> Seeded:
    """A study of ``count`` submissions awaiting review, each entered with its code."""
    body = {"places": count, "completion_code": CODE, "reward": REWARD}
    made = emulator.control("POST", "seed", body)["studies"][0]
    return Seeded(made["study_id"], made["participant_ids"], made["submission_ids"])


def balance(emulator: ProlificEmulator) -> Decimal:
    return Decimal(str(emulator.control("GET", "state")["balance"]))


@dataclass
class Outcome:
    """What one side left on the emulator."""

    count: int
    statuses: Counter[str] = field(default_factory=Counter)
    #: Rewards charged while the side ran; the emulator charges one per approval.
    approvals: Decimal = Decimal(0)
    calls: Counter[str] = field(default_factory=Counter)

    @property
    def exactly_once(self) -> bool:
        # Every submission approved at least once, and no more approvals than submissions.
        return self.statuses == Counter({APPROVED: self.count}) and self.approvals == self.count

    def describe(self) -> str:
        shown = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        return f"{shown}; {self.approvals:g} approvals charged"


def read_outcome(
    emulator: ProlificEmulator,
    study: Seeded,
    balance_before: Decimal,
    calls_before: Counter[str],
) -> Outcome:
    """Each of the study's submissions' status, read through the emulator's own API, and
    the approvals and calls made since ``balance_before`` and ``calls_before``."""
    calls = emulator.calls()  # before the listing below, which is not the side's
    calls.subtract(calls_before)
    found: dict[str, str] = dict.fromkeys(study.submission_ids, "missing")
    session = researcher_session()
    url: str | None = f"{emulator.api_url}studies/{study.study_id}/submissions/?limit=1000"
    while url:
        page = researcher_call(session, "GET", url)
        for item in page["results"]:
            found[item["id"]] = item["status"]
        url = page["_links"]["next"]["href"]
    outcome = Outcome(len(study.submission_ids), Counter(found.values()))
    outcome.approvals = (balance_before - balance(emulator)) / Decimal(REWARD)
    outcome.calls = +calls
    return outcome


# --------------------------------------------------------------------------- script


@dataclass
class ScriptRun:
    count: int
    seconds: float = 0.0
    outcome: Outcome = field(default_factory=lambda: Outcome(0))

    @property
    def per_call(self) -> float:
        return self.seconds / self.count

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.inf


def run_script(emulator: ProlificEmulator, args: argparse.Namespace) -> ScriptRun:
    """One transition to APPROVED per submission, one after another."""
    emulator.latency(0)
    study = seed_awaiting_review(emulator, args.count)
    session = researcher_session()
    researcher_call(session, "GET", f"{emulator.api_url}users/me/")  # untimed: the connection
    emulator.latency(args.latency_ms)
    balance_before, calls_before = balance(emulator), emulator.calls()
    print(f"  script: {args.count} approvals, one after another ...", flush=True)
    began = time.perf_counter()
    for submission in study.submission_ids:
        researcher_call(
            session,
            "POST",
            f"{emulator.api_url}submissions/{submission}/transition/",
            {"action": "APPROVE"},
        )
    run = ScriptRun(args.count, time.perf_counter() - began)
    emulator.latency(0)
    run.outcome = read_outcome(emulator, study, balance_before, calls_before)
    return run


# ------------------------------------------------------------------------- crowdgate


@dataclass
class CrowdgateRun:
    count: int
    seconds: float = 0.0  # POST until the job was seen finished
    job_seconds: float = math.nan  # the job's started_at to finished_at
    #: The POST until the job's created_at: building the plan from the record.
    planned_seconds: float = math.nan
    #: The job's created_at to started_at: waiting for a runner.
    queued_seconds: float = math.nan
    #: Seconds spent starting and completing the participants, then syncing (untimed).
    survey_seconds: float = math.nan
    sync_seconds: float = math.nan
    #: CPU seconds used while reviewing: the runners, the API's processes, the emulator.
    cpu: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    load_after: str = ""
    job: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = field(default_factory=lambda: Outcome(0))

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def succeeded(self) -> bool:
        job = self.job
        return (
            job.get("state") == "succeeded"
            and job.get("done") == self.count
            and (job.get("counts") or {}).get("approved") == self.count
        )


def take_part(deployment: Deployment, slug: str, survey_key: str, study: Seeded) -> None:
    """Every participant starts and completes the survey, as a survey page would call
    crowdgate with what Prolific puts in its URL."""
    session = requests.Session()
    session.headers["X-Survey-Key"] = survey_key
    base = f"http://{HOST}:{deployment.api.port}{API}/studies/{slug}/participants"
    seeded = zip(study.participant_ids, study.submission_ids, strict=True)
    for participant, submission in seeded:
        url = f"{base}/{quote(participant, safe='')}"
        body = {"PROLIFIC_PID": participant, "STUDY_ID": study.study_id, "SESSION_ID": submission}
        for step, sent in (("start", body), ("complete", None)):
            response = session.post(f"{url}/{step}", json=sent, timeout=30)
            if response.status_code != 200:
                raise BenchmarkError(
                    f"POST .../participants/{participant}/{step}: HTTP "
                    f"{response.status_code} {response.text[:300]}"
                )


def run_crowdgate(
    deployment: Deployment, emulator: ProlificEmulator, args: argparse.Namespace
) -> CrowdgateRun:
    """A fresh Prolific study of ``--count`` participants who completed through crowdgate,
    synced from a newly seeded study, then reviewed with the emulator answering after
    ``--latency-ms``."""
    run = CrowdgateRun(args.count)
    emulator.latency(0)  # the set-up is not what is measured
    study = seed_awaiting_review(emulator, args.count)
    slug = f"review-{uuid.uuid4().hex[:8]}"
    made = deployment.call(
        "POST",
        f"{API}/studies",
        {
            "slug": slug,
            "platform": "prolific",
            "mode": "sandbox",
            "hit_ids": [study.study_id],
            "platform_completion_code": CODE,
        },
        expect=201,
    )
    print(f"  crowdgate: {args.count} participants start and complete ...", flush=True)
    began = time.perf_counter()
    take_part(deployment, slug, made["survey_key"], study)
    run.survey_seconds = time.perf_counter() - began
    print(f"  crowdgate: syncing {args.count} submissions ...", flush=True)
    began = time.perf_counter()
    answer = deployment.call("POST", f"{API}/studies/{slug}/sync", expect=202)
    synced, seen = deployment.wait(answer["job_id"], began)
    run.sync_seconds = seen - began
    if synced["state"] != "succeeded" or synced["counts"].get("updated") != args.count:
        raise BenchmarkError(f"the sync did not match {args.count} submissions: {synced}")
    # The plan is checked before timing, so a study that would not approve everyone
    # stops here instead of passing for a fast review.
    plan = deployment.call("POST", f"{API}/studies/{slug}/review", {"dry_run": True})
    if plan["counts"].get("approve") != args.count:
        raise BenchmarkError(
            f"the plan does not approve all {args.count}: {plan['counts']} {plan['reasons']}"
        )

    emulator.latency(args.latency_ms)
    balance_before, calls_before = balance(emulator), emulator.calls()
    print(f"  crowdgate: reviewing {args.count} submissions ...", flush=True)
    cpu_before = deployment.cpu_seconds(emulator)
    began, posted_at = time.perf_counter(), time.time()
    answer = deployment.call("POST", f"{API}/studies/{slug}/review", {"dry_run": False}, 202)
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
    run.outcome = read_outcome(emulator, study, balance_before, calls_before)
    return run


# --------------------------------------------------------------------------- report


def describe_calls(calls: Counter[str]) -> str:
    shown = [f"{calls[BULK_CALL]} {BULK_CALL}", f"{calls[ONE_CALL]} {ONE_CALL}"]
    others = {name: n for name, n in calls.items() if name not in (BULK_CALL, ONE_CALL) and n}
    shown += [f"{n} {name}" for name, n in sorted(others.items())]
    return ", ".join(shown)


def report(script: ScriptRun, run: CrowdgateRun, runners: int, args: argparse.Namespace) -> bool:
    print(
        f"\nProlific review: {args.count} submissions approved, emulator latency "
        f"{args.latency_ms} ms per call"
    )
    print(
        f"  {'script':<10} {script.seconds:8.2f} s  {script.rate:8.1f} approvals/s   "
        f"({script.per_call * 1000:.1f} ms a call; {describe_calls(script.outcome.calls)})"
    )
    print(
        f"  {'crowdgate':<10} {run.seconds:8.2f} s  {run.rate:8.1f} approvals/s   "
        f"(planned in {run.planned_seconds:.2f} s, the job made and started "
        f"{run.queued_seconds:.2f} s later and ran {run.job_seconds:.2f} s; "
        f"{describe_calls(run.outcome.calls)})"
    )
    runner_cpu, api, served = run.cpu
    print(
        f"  {'':<10} CPU meanwhile: runner{'s' if runners > 1 else ''} {runner_cpu:.1f} s, "
        f"API {api:.1f} s, emulator {served:.1f} s "
        f"({(runner_cpu + api + served) / run.seconds:.2f} CPUs busy of {os.cpu_count()}); "
        f"load average just after: {run.load_after}"
    )
    print(
        f"  {'':<10} untimed set-up: {run.survey_seconds:.2f} s for {2 * run.count} survey "
        f"calls (start, complete), sync {run.sync_seconds:.2f} s"
    )

    print("\nratios")
    print(
        f"  script / crowdgate = {script.seconds:.2f} / {run.seconds:.2f} = "
        f"{script.seconds / run.seconds:.2f}x  (how much faster crowdgate is)"
    )
    batches = math.ceil(run.count / BULK_APPROVE)
    floor = batches * script.per_call
    print(
        f"  at {script.per_call * 1000:.1f} ms a call, {batches} bulk approvals of up to "
        f"{BULK_APPROVE} need at least {floor:.2f} s one after another: crowdgate took "
        f"{run.seconds / floor:.2f}x that; its job's running time left "
        f"{(run.job_seconds - floor) / batches * 1000:.0f} ms a batch besides the call"
    )

    print("\nexactly once (statuses read back from the emulator; rewards it charged)")
    for label, outcome in (("script", script.outcome), ("crowdgate", run.outcome)):
        verdict = "OK" if outcome.exactly_once else "WRONG"
        print(f"  {label:<10} {outcome.describe()}  {verdict}")
    if not run.succeeded:
        job = run.job
        print(
            f"crowdgate's job did not approve everyone: {job.get('state')}, {job.get('done')} "
            f"of {run.count} done, counts {job.get('counts')}, error {job.get('error')!r}"
        )
    return run.succeeded and run.outcome.exactly_once


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Approve a Prolific study's submissions through crowdgate's review against the "
            "Prolific emulator with added latency, next to a researcher's script approving "
            "each in turn, in one run."
        )
    )
    parser.add_argument("--count", type=int, default=1000, help="submissions to approve (1000)")
    parser.add_argument(
        "--latency-ms", type=int, default=50, help="latency the emulator adds to a call (50)"
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
    for name in ("count", "runners", "workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.latency_ms < 0:
        parser.error("--latency-ms must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_guarded(
        lambda cleanup, workdir: benchmark(args, cleanup, workdir), keep_logs=args.keep_logs
    )


def benchmark(args: argparse.Namespace, cleanup: ExitStack, workdir: Path) -> int:
    emulator, deployment = prepare("review", args, cleanup, workdir)
    script = run_script(emulator, args)
    start(deployment, cleanup)
    run = run_crowdgate(deployment, emulator, args)
    deployment.stop()
    return finish(deployment, report(script, run, args.runners, args))


if __name__ == "__main__":
    sys.exit(main())
