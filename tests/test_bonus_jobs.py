"""Bonus jobs under load: two runners sharing one job, a throttling storm, a cancel
midway, the MTurk rate limit, and the progress a running job reports.

Each runs against the MTurk emulator over sockets; its ledger (``state.bonuses``) is
what was paid, whatever crowdgate believes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from crowdgate.db import Database
from crowdgate.models import Bonus
from crowdgate.serve import app_runner
from crowdgate.testing import MTurkEmulator
from sqlalchemy import func, select

from tests.http import ApiClient

FINISHED = ("succeeded", "failed", "cancelled")
Paid = Counter[tuple[str, str, Decimal]]


@pytest.fixture
def app_config(
    app_config: dict[str, Any], mturk_env: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    # The wall clock, not the tests' frozen one: rate and ETA need time to pass.
    extra = getattr(request, "param", {})
    return {
        **app_config,
        "CROWDGATE_CLOCK": None,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
        **extra,
    }


def queue_mode(**settings: Any) -> Any:
    """Run the test with an app that queues jobs (and these settings)."""
    return pytest.mark.parametrize(
        "app_config", [{"CROWDGATE_JOB_RUNNER": "queue", **settings}], indirect=True
    )


# --- studies, items and ledgers, shared with test_bonus_crash ----------------------------


@dataclass
class PayingStudy:
    slug: str
    workers: list[str]
    assignment: dict[str, str]

    def items(self, workers: list[str] | None = None) -> list[dict[str, Any]]:
        return [
            {"worker_id": w, "amount": amount(self.workers.index(w)), "reason": "Thanks"}
            for w in (workers if workers is not None else self.workers)
        ]

    def expected(self) -> Paid:
        """One payment of each item's amount for each worker's assignment."""
        return Counter(
            (w, self.assignment[w], Decimal(amount(n))) for n, w in enumerate(self.workers)
        )


def amount(n: int) -> str:
    # Amounts differ from worker to worker, so a payment to the wrong row would show.
    return f"0.{10 + n % 90:02d}"


def paying_study(
    api: ApiClient,
    emulator: MTurkEmulator,
    count: int,
    *,
    slug: str = "paying",
    run_queued: Callable[[], Any] | None = None,
) -> PayingStudy:
    """A sandbox MTurk study whose ``count`` participants came in by a sync of one HIT
    (far faster than ``count`` survey starts), each with an assignment to pay."""
    workers = [f"A2PAY{n:08d}" for n in range(count)]
    hit = emulator.seed_hit(assignments=count, workers=workers)
    created = api.post(
        "/studies",
        json={"slug": slug, "platform": "mturk", "mode": "sandbox", "hit_ids": [hit.hit_id]},
    )
    assert created.status_code == 201, created.text
    synced = api.post(f"/studies/{slug}/sync")
    assert synced.status_code == 202, synced.text
    if run_queued is not None:
        run_queued()
    job = wait_job(api, synced.json()["job_id"])
    assert job["state"] == "succeeded" and job["counts"]["added"] == count, job
    return PayingStudy(slug, workers, dict(zip(workers, hit.assignment_ids, strict=True)))


def pay(api: ApiClient, slug: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = api.post(
        f"/studies/{slug}/bonuses",
        json={"items": items, "dry_run": False},
        timeout=300,  # an inline job answers when it ends
    )
    assert response.status_code == 202, response.text
    return response.json()["job"]  # type: ignore[no-any-return]


def wait_job(
    api: ApiClient,
    job_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda job: job["state"] in FINISHED,
    *,
    timeout: float = 120,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if until(job):
            return job  # type: ignore[no-any-return]
        assert job["state"] not in FINISHED, job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


def emulator_paid(emulator: MTurkEmulator) -> Paid:
    with emulator.state.lock:
        bonuses = list(emulator.state.bonuses.values())
    return Counter((b.worker_id, b.assignment_id, b.amount) for b in bonuses)


def emulator_tokens(emulator: MTurkEmulator) -> Counter[str | None]:
    with emulator.state.lock:
        return Counter(b.token for b in emulator.state.bonuses.values())


def ledger(api: ApiClient, slug: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"/studies/{slug}/bonuses", params=params)
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


def ledger_paid(rows: list[dict[str, Any]], state: str = "sent") -> Paid:
    return Counter(
        (r["worker_id"], r["assignment_id"], Decimal(r["amount"]))
        for r in rows
        if r["state"] == state
    )


def assert_paid_once_each(api: ApiClient, emulator: MTurkEmulator, study: PayingStudy) -> None:
    """Every item paid exactly once on the platform, and the ledger says so too."""
    assert emulator_paid(emulator) == study.expected()
    rows = ledger(api, study.slug)
    assert Counter(r["state"] for r in rows) == {"sent": len(study.workers)}
    assert ledger_paid(rows) == study.expected()
    tokens = emulator_tokens(emulator)
    assert tokens == Counter(f"crowdgate-bonus-{r['id']}" for r in rows)


# --- runners ------------------------------------------------------------------------------


class RunnerThread:
    """A job runner with the app's database and platform clients, in a thread."""

    def __init__(self, app: Any, name: str) -> None:
        self.runner = app_runner(app, name)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.runner.run_forever, args=(self.stop, 0.05), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the runner did not stop"


@pytest.fixture
def runner_thread(app: Any) -> Iterator[Callable[[str], RunnerThread]]:
    started: list[RunnerThread] = []

    def start(name: str) -> RunnerThread:
        started.append(RunnerThread(app, name))
        return started[-1]

    yield start
    for runner in started:
        runner.close()


# --- two runners, one job -----------------------------------------------------------------


class WorkerProcess:
    """`crowdgate worker` as its own process, its output in a file."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str) -> None:
        self.name = name
        self.log = cwd / f"worker-{name}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crowdgate.cli", "worker", "--poll", "0.05"]
                + ["--name", name],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while "waiting for jobs" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text()


@pytest.fixture
def worker_processes(
    db_url: str, mturk_env: str, tmp_path: Path
) -> Iterator[Callable[[str], WorkerProcess]]:
    env = {**os.environ, "CROWDGATE_DATABASE_URL": db_url, "CROWDGATE_MTURK_MAX_ATTEMPTS": "1"}
    env.pop("CROWDGATE_TEST_DATABASE_URL", None)
    started: list[WorkerProcess] = []

    def start(name: str) -> WorkerProcess:
        started.append(WorkerProcess(env, tmp_path, name))
        return started[-1]

    yield start
    for process in started:
        process.stop()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@queue_mode(CROWDGATE_BONUS_CONCURRENCY=4)
def test_two_workers_share_one_bonus_job_and_never_send_an_item_twice(
    admin, app, db_url, mturk_emulator, worker_processes
):
    """Only PostgreSQL lets two runners work on one job at once (SKIP LOCKED claims);
    on SQLite the database's one write lock would serialise them."""
    study = paying_study(
        admin, mturk_emulator, 800, run_queued=lambda: app_runner(app).run_all(threading.Event())
    )
    first, second = worker_processes("runner-a"), worker_processes("runner-b")
    first.wait_ready()
    second.wait_ready()
    # Slow enough that the runner that did not claim the job joins it.
    mturk_emulator.faults.configure(latency_ms=20)
    job = pay(admin, study.slug, study.items())
    assert job["state"] == "queued", job
    job = wait_job(admin, job["job_id"])
    logs = {process.name: process.stop() for process in (first, second)}
    assert job["state"] == "succeeded", (job, logs)
    assert (job["total"], job["done"], job["failed"]) == (800, 800, 0)

    db = Database(db_url)
    try:
        with db.read() as session:
            senders = dict(
                session.execute(
                    select(Bonus.claimed_by, func.count()).group_by(Bonus.claimed_by)
                ).all()
            )
            owner = session.scalar(select(Bonus.job_id).limit(1))
    finally:
        db.dispose()
    assert owner == job["job_id"]
    assert set(senders) == {"runner-a", "runner-b"}, senders
    assert sum(senders.values()) == 800
    # No faults, so one SendBonus per item: had both runners sent a row, MTurk would
    # have seen its token twice (and refused the second as a duplicate).
    assert mturk_emulator.faults.calls["SendBonus"] == 800
    # Each token, one bonus row, was sent once: no row went out from both runners.
    assert Counter(mturk_emulator.faults.token_calls["SendBonus"].values()) == {1: 800}
    assert mturk_emulator.faults.committed["SendBonus"] == 800
    assert_paid_once_each(admin, mturk_emulator, study)
    assert any("helping with job" in log for log in logs.values()), logs


# --- faults -------------------------------------------------------------------------------


def test_a_storm_of_server_errors_and_throttling_ends_with_each_bonus_paid_once(
    admin, mturk_emulator
):
    """Half the calls fail, a few of them throttled. A row the job cannot send within
    its attempts leaves the job failed with the row unsent; sending the same items
    again finishes them, and nothing is ever paid twice."""
    study = paying_study(admin, mturk_emulator, 500)
    mturk_emulator.faults.configure(error_rate=0.4, seed=3)
    mturk_emulator.faults.fail_next("SendBonus", "throttle", times=2, after=40)
    items = study.items()
    jobs = [pay(admin, study.slug, items)]
    while jobs[-1]["state"] != "succeeded":
        job = jobs[-1]
        assert len(jobs) < 8, jobs
        assert job["state"] == "failed" and job["error_code"] == "platform_unavailable", job
        assert job["counts"]["unsent"] == job["total"] - job["done"] - job["failed"] > 0, job
        states = Counter(r["state"] for r in ledger(admin, study.slug))
        assert states["sent"] == 500 - job["counts"]["unsent"] and not states["failed"], states
        assert set(emulator_paid(mturk_emulator).values()) == {1}
        jobs.append(pay(admin, study.slug, items))
    # Each job after the first took only what was left.
    for before, after in zip(jobs, jobs[1:], strict=False):
        assert after["total"] == before["counts"]["unsent"], (before, after)
    assert mturk_emulator.faults.injected["error"] > 0
    assert mturk_emulator.faults.injected["throttle"] == 2
    assert_paid_once_each(admin, mturk_emulator, study)


@queue_mode(CROWDGATE_BONUS_CONCURRENCY=4)
def test_cancel_midway_stops_before_the_next_batch_and_leaves_the_rest_unpaid(
    admin, app, mturk_emulator, runner_thread
):
    study = paying_study(
        admin, mturk_emulator, 1000, run_queued=lambda: app_runner(app).run_all(threading.Event())
    )
    mturk_emulator.faults.configure(latency_ms=20)
    job_id = pay(admin, study.slug, study.items())["job_id"]
    runner = runner_thread("cancel-runner")
    # A batch is 200 rows: once the first is done, four are left to not send.
    running = wait_job(admin, job_id, lambda job: job["done"] >= 200)
    assert running["state"] == "running" and not running["cancel_requested"], running
    cancelled = admin.post(f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancel_requested"] is True
    seen = admin.get(f"/jobs/{job_id}").json()
    assert seen["cancel_requested"] is True, seen
    job = wait_job(admin, job_id)
    runner.close()
    assert job["state"] == "cancelled" and job["cancel_requested"] is True, job
    sent = job["done"]
    assert 200 <= sent < 1000 and job["failed"] == 0, job
    assert job["counts"]["unsent"] == 1000 - sent, job
    again = admin.post(f"/jobs/{job_id}/cancel")
    assert again.status_code == 409 and again.json()["error"] == "job_not_cancellable"

    rows = ledger(admin, study.slug)
    assert Counter(r["state"] for r in rows) == {"sent": sent, "pending": 1000 - sent}
    # What crowdgate calls sent is exactly what MTurk paid; the pending rows were never
    # sent at all.
    assert emulator_paid(mturk_emulator) == ledger_paid(rows)
    assert mturk_emulator.faults.calls["SendBonus"] == sent

    mturk_emulator.faults.configure(latency_ms=0)
    rest = pay(admin, study.slug, study.items())
    app_runner(app, "second-runner").run_all(threading.Event())
    rest = wait_job(admin, rest["job_id"])
    assert rest["state"] == "succeeded", rest
    assert rest["total"] == rest["done"] == 1000 - sent, rest
    assert mturk_emulator.faults.calls["SendBonus"] == 1000
    assert_paid_once_each(admin, mturk_emulator, study)


# --- pace -----------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"CROWDGATE_MTURK_RATE_LIMIT": 20}], indirect=True)
def test_the_rate_limit_spaces_the_calls(admin, mturk_emulator):
    study = paying_study(admin, mturk_emulator, 100)
    began = time.monotonic()
    job = pay(admin, study.slug, study.items())
    took = time.monotonic() - began
    assert job["state"] == "succeeded" and job["done"] == 100, job
    # 100 calls at 20 a second: 99 gaps of 1/20 s at least, between the first call and
    # the last as MTurk received them (lower bounds only: a slow machine only adds).
    floor = (100 - 1) / 20
    assert took >= floor, took
    with mturk_emulator.state.lock:
        times = sorted(b.granted_at for b in mturk_emulator.state.bonuses.values())
    assert len(times) == 100
    assert times[-1] - times[0] >= floor * 0.9, times[-1] - times[0]
    assert_paid_once_each(admin, mturk_emulator, study)


@queue_mode(CROWDGATE_BONUS_CONCURRENCY=4)
def test_a_running_job_reports_its_rate_and_time_left(admin, app, mturk_emulator, runner_thread):
    study = paying_study(
        admin, mturk_emulator, 400, run_queued=lambda: app_runner(app).run_all(threading.Event())
    )
    mturk_emulator.faults.configure(latency_ms=20)
    queued = pay(admin, study.slug, study.items())
    assert queued["state"] == "queued", queued
    assert queued["rate_per_second"] is None and queued["eta_seconds"] is None, queued
    runner_thread("pace-runner")
    running = wait_job(admin, queued["job_id"], lambda job: job["done"] > 0)
    assert running["state"] == "running", running
    rate, eta = running["rate_per_second"], running["eta_seconds"]
    assert isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0, running
    assert isinstance(eta, int | float) and not isinstance(eta, bool) and eta >= 0, running
    # The ETA is what is left at that rate.
    left = running["total"] - running["done"] - running["failed"]
    assert eta == pytest.approx(left / rate, abs=0.2), running
    finished = wait_job(admin, queued["job_id"])
    assert finished["state"] == "succeeded", finished
    assert finished["rate_per_second"] is None and finished["eta_seconds"] is None
    assert_paid_once_each(admin, mturk_emulator, study)
