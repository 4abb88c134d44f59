"""Job runners: `crowdgate worker`, the queue mode of the API and `crowdgate serve`'s runner.

Real databases, the MTurk emulator over sockets, and the worker and server as their own
processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from crowdgate.clock import system_clock
from crowdgate.db import Database
from crowdgate.domain import job_runner, jobs, sync
from crowdgate.domain.keys import create_admin_key
from crowdgate.models import Job, Study
from crowdgate.serve import app_runner
from sqlalchemy import select

from tests.served import Served


@pytest.fixture
def app_config(
    app_config: dict[str, Any], mturk_env: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    # A test may add settings by parametrizing app_config indirectly.
    extra = getattr(request, "param", {})
    return {**app_config, "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env, **extra}


@pytest.fixture
def worker_env(db_url: str, mturk_env: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CROWDGATE_DATABASE_URL": db_url,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
    }
    env.pop("CROWDGATE_TEST_DATABASE_URL", None)
    return env


def worker(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", "worker", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def queued_sync(db: Database, slug: str, now: datetime) -> str:
    with db.write() as session:
        study = session.scalar(select(Study).where(Study.slug == slug))
        return jobs.create_job(session, sync.KIND, study=study, params={}, now=now).id


def no_platform(platform: str, mode: str) -> Any:
    raise AssertionError(f"no job here should reach {platform} ({mode})")


def read_job(db: Database, job_id: str) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_worker_once_runs_a_queued_sync(
    make_study, mturk_emulator, db, clock, worker_env, tmp_path
):
    hit = mturk_emulator.seed_hit(assignments=3)
    study, _ = make_study(platform="mturk", hit_ids=[hit.hit_id])
    job_id = queued_sync(db, study["slug"], clock())

    ran = worker(worker_env, tmp_path, "--once", "--name", "worker-a")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "crowdgate: ran 1 job"
    assert f"job {job_id} succeeded" in ran.stderr
    job = read_job(db, job_id)
    assert (job.state, job.claimed_by, job.attempts) == ("succeeded", "worker-a", 1)
    assert job.counts["added"] == 3

    again = worker(worker_env, tmp_path, "--once")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "crowdgate: ran 0 jobs"


@pytest.mark.parametrize("app_config", [{"CROWDGATE_JOB_RUNNER": "queue"}], indirect=True)
def test_queue_mode_answers_queued_and_the_worker_finishes_it(
    admin, make_study, mturk_emulator, worker_env, tmp_path
):
    hit = mturk_emulator.seed_hit(assignments=4)
    study, _ = make_study(platform="mturk", hit_ids=[hit.hit_id])
    started = admin.post(f"/studies/{study['slug']}/sync")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["state"] == "queued" and body["job"]["started_at"] is None
    assert admin.get(f"/jobs/{body['job_id']}").json()["state"] == "queued"

    ran = worker(worker_env, tmp_path, "--once")
    assert ran.returncode == 0, ran.stderr
    job = admin.get(f"/jobs/{body['job_id']}").json()
    assert job["state"] == "succeeded", job
    assert (job["total"], job["done"], job["counts"]["added"]) == (4, 4, 4)


def test_a_stale_running_job_is_reclaimed_and_a_fresh_one_is_not(
    app, make_study, mturk_emulator, db, clock
):
    hit = mturk_emulator.seed_hit(assignments=2)
    study, _ = make_study(platform="mturk", hit_ids=[hit.hit_id])
    stale_id = queued_sync(db, study["slug"], clock())
    fresh_id = queued_sync(db, study["slug"], clock())
    for job_id, beat in ((stale_id, clock() - timedelta(seconds=301)), (fresh_id, clock())):
        assert jobs.claim(db, job_id, now=beat, runner_name="died")
    runner = app_runner(app, "rescuer")
    assert runner.stale_seconds == 300
    assert runner.run_all(threading.Event()) == 1

    stale, fresh = read_job(db, stale_id), read_job(db, fresh_id)
    assert (stale.state, stale.claimed_by, stale.attempts) == ("succeeded", "rescuer", 2)
    assert stale.counts["added"] == 2
    assert (fresh.state, fresh.claimed_by, fresh.attempts) == ("running", "died", 1)


def test_concurrent_runners_never_claim_the_same_job(make_study, db, clock):
    study, _ = make_study(platform="mturk", hit_ids=["HIT1"])
    queued = {queued_sync(db, study["slug"], clock()) for _ in range(20)}
    barrier = threading.Barrier(2)
    claimed: dict[str, list[str]] = {"one": [], "two": []}

    def claim_all(name: str) -> None:
        barrier.wait()
        while True:
            now = system_clock()
            job_id = job_runner.claim_next(
                db, now=now, stale_before=now - timedelta(hours=1), runner_name=name
            )
            if job_id is None:
                return
            claimed[name].append(job_id)

    threads = [threading.Thread(target=claim_all, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    one, two = claimed["one"], claimed["two"]
    assert not set(one) & set(two)
    assert sorted(one + two) == sorted(queued)
    with db.read() as session:
        rows = session.execute(select(Job.id, Job.claimed_by, Job.attempts)).all()
    assert {row.id: row.claimed_by for row in rows} == {
        **{job_id: "one" for job_id in one},
        **{job_id: "two" for job_id in two},
    }
    assert {row.attempts for row in rows} == {1}


def test_sigterm_lets_the_running_job_finish_then_stops(
    make_study, mturk_emulator, db, clock, worker_env, tmp_path
):
    hit = mturk_emulator.seed_hit(assignments=250)
    study, _ = make_study(platform="mturk", hit_ids=[hit.hit_id])
    mturk_emulator.faults.configure(latency_ms=400)
    job_id = queued_sync(db, study["slug"], clock())
    process = subprocess.Popen(
        [sys.executable, "-m", "crowdgate.cli", "worker", "--poll", "0.1"],
        env=worker_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while read_job(db, job_id).state == "queued":
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the worker never claimed the job"
            time.sleep(0.02)
        assert read_job(db, job_id).state == "running"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"job {job_id} succeeded" in stderr and "stopped" in stderr
    job = read_job(db, job_id)
    assert (job.state, job.done) == ("succeeded", 250)


def test_worker_refuses_a_database_without_tables_in_one_line(tmp_path, worker_env):
    env = {**worker_env, "CROWDGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    ran = worker(env, tmp_path, "--once")
    assert ran.returncode == 1
    assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr
    assert "crowdgate db upgrade" in ran.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_on_sqlite_runs_queued_jobs_in_the_background(
    db_url, worker_env, mturk_emulator, tmp_path
):
    hit = mturk_emulator.seed_hit(assignments=3)
    served = Served(db_url, worker_env, tmp_path)
    db = Database(db_url)
    try:
        with db.write() as session:
            key = create_admin_key(session, name="tests", now=datetime.now(UTC))
        headers = {"Authorization": f"Bearer {key}"}
        study = requests.post(
            f"{served.api}/studies",
            json={"slug": "bg", "platform": "mturk", "hit_ids": [hit.hit_id]},
            headers=headers,
            timeout=30,
        )
        assert study.status_code == 201, study.text
        started = requests.post(f"{served.api}/studies/bg/sync", headers=headers, timeout=30)
        assert started.status_code == 202, started.text
        assert started.json()["state"] in ("queued", "running", "succeeded")
        job_url = f"{served.api}/jobs/{started.json()['job_id']}"
        deadline = time.monotonic() + 30
        while (job := requests.get(job_url, headers=headers, timeout=30).json())["state"] != (
            "succeeded"
        ):
            assert job["state"] in ("queued", "running"), job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["counts"]["added"] == 3
        claimed_by = read_job(db, job["job_id"]).claimed_by
        assert claimed_by is not None and claimed_by.startswith("serve:")
    finally:
        served.stop()
        db.dispose()
    assert served.process.returncode == 0


def test_a_job_of_an_unknown_kind_fails_instead_of_staying_queued(db):
    with db.write() as session:
        session.add(
            Job(
                id=jobs.new_job_id(),
                kind="no_such_kind",
                state=jobs.QUEUED,
                params={},
                created_at=system_clock(),
            )
        )
    runner = job_runner.JobRunner(db, system_clock, no_platform, "r")
    job_id = runner.run_once()
    assert job_id is not None
    job = read_job(db, job_id)
    assert (job.state, job.error_code) == ("failed", "unknown_job_kind")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_serve_on_postgresql_runs_jobs_only_with_worker(
    db_url, worker_env, mturk_emulator, tmp_path
):
    hit = mturk_emulator.seed_hit(assignments=2)
    db = Database(db_url)
    try:
        with db.write() as session:
            key = create_admin_key(session, name="tests", now=datetime.now(UTC))
        headers = {"Authorization": f"Bearer {key}"}
        plain = Served(db_url, worker_env, tmp_path)
        url = plain.api
        try:
            study = requests.post(
                f"{url}/studies",
                json={"slug": "pg", "platform": "mturk", "hit_ids": [hit.hit_id]},
                headers=headers,
                timeout=30,
            )
            assert study.status_code == 201, study.text
            started = requests.post(f"{url}/studies/pg/sync", headers=headers, timeout=30)
            assert started.json()["state"] == "queued", started.text
            job_id = started.json()["job_id"]
            time.sleep(1.5)
            assert read_job(db, job_id).state == "queued"
        finally:
            plain.stop()
        assert "run `crowdgate worker`" in plain.log.read_text()

        with_worker = Served(db_url, worker_env, tmp_path, worker=True)
        try:
            deadline = time.monotonic() + 30
            while read_job(db, job_id).state != "succeeded":
                assert time.monotonic() < deadline, read_job(db, job_id).state
                time.sleep(0.05)
        finally:
            with_worker.stop()
        assert read_job(db, job_id).counts["added"] == 2
    finally:
        db.dispose()
