"""Jobs: the row a bulk operation leaves, read over HTTP; claiming and cancelling."""

from __future__ import annotations

from typing import Any

import pytest
from crowdgate.domain import jobs, sync
from crowdgate.models import Job, Study
from sqlalchemy import select

from tests.http import assert_error


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
    }


def queued_sync(db: Any, slug: str, now: Any) -> str:
    with db.write() as session:
        study = session.scalar(select(Study).where(Study.slug == slug))
        return jobs.create_job(session, sync.KIND, study=study, params={}, now=now).id


def test_job_is_read_with_state_counts_and_times(admin, make_study, mturk_emulator, clock):
    hit = mturk_emulator.seed_hit(assignments=3)
    study, _ = make_study(platform="mturk", hit_ids=[hit.hit_id])
    started = admin.post(f"/studies/{study['slug']}/sync")
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    job = admin.get(f"/jobs/{job_id}").json()
    assert job["job_id"] == job_id
    assert job["kind"] == "sync" and job["study"] == study["slug"]
    assert job["state"] == "succeeded"
    assert (job["total"], job["done"], job["failed"]) == (3, 3, 0)
    assert job["counts"]["added"] == 3
    assert job["result"] == {"hit_ids": [hit.hit_id], "workers": 3}
    assert job["error"] is None
    assert job["created_at"] == job["started_at"] == job["finished_at"] == clock().isoformat()


def test_unknown_and_malformed_job_ids_are_404(admin, anonymous):
    assert_error(admin.get("/jobs/0123456789abcdef01234567"), 404, "job_not_found")
    assert_error(admin.get("/jobs/not-an-id!"), 404, "job_not_found")
    assert anonymous.get("/jobs/0123456789abcdef01234567").status_code == 401


def test_a_job_is_claimed_once(make_study, db, clock, app):
    study, _ = make_study(platform="mturk", hit_ids=["HIT1"])
    job_id = queued_sync(db, study["slug"], clock())
    assert jobs.claim(db, job_id, now=clock(), runner_name="worker-1")
    assert not jobs.claim(db, job_id, now=clock(), runner_name="worker-2")
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.state, job.claimed_by, job.attempts) == ("running", "worker-1", 1)


def test_run_job_on_a_job_someone_else_runs_does_nothing(make_study, db, clock):
    study, _ = make_study(platform="mturk", hit_ids=["HIT1"])
    job_id = queued_sync(db, study["slug"], clock())
    jobs.claim(db, job_id, now=clock(), runner_name="worker-1")

    def refuse(platform: str, mode: str) -> Any:
        raise AssertionError("a job claimed by another runner must not run here")

    assert jobs.run_job(db, job_id, clock=clock, connect=refuse) == "running"


def test_queued_jobs_can_be_cancelled_running_ones_cannot(admin, make_study, db, clock):
    study, _ = make_study(platform="mturk", hit_ids=["HIT1"])
    job_id = queued_sync(db, study["slug"], clock())
    cancelled = admin.post(f"/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert_error(admin.post(f"/jobs/{job_id}/cancel"), 409, "job_not_cancellable")
    assert not jobs.claim(db, job_id, now=clock(), runner_name="worker-1")
