"""The SDK's Job: its pace fields, and wait() and cancel() through the client that returned
it, against a live service whose jobs are queued (CROWDGATE_JOB_RUNNER=queue) so that
they stay where each test puts them."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from crowdgate.db import Database
from crowdgate.models import Job as JobRow
from crowdgate_client import Client, ConflictError, Job
from sqlalchemy import update

from tests.test_bonus_upload import bonus_study
from tests.test_bonuses import workers


@pytest.fixture
def app_config(
    app_config: dict[str, Any], mturk_env: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    runner = getattr(request, "param", "queue")
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_JOB_RUNNER": runner,
    }


@pytest.fixture
def paying(make_study: Any, mturk_emulator: Any) -> Any:
    return functools.partial(bonus_study, make_study, mturk_emulator)


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


def queued_bonuses(sdk: Client, paying: Any) -> Job:
    names = workers(2)
    slug = paying(names)["slug"]
    items = [{"worker_id": name, "amount": "0.25"} for name in names]
    return sdk.pay_bonuses(slug, items, reason="Thanks", wait=False)


def make_running(db: Database, job_id: str, now: Any, *, done: int, total: int) -> None:
    """What a runner 10 seconds into the job would have written."""
    with db.write() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(state="running", started_at=now - timedelta(seconds=10), done=done, total=total)
        )


def test_a_queued_job_cancels_and_waits_through_its_client(sdk, paying, mturk_emulator):
    job = queued_bonuses(sdk, paying)
    assert (job.kind, job.state, job.finished) == ("bonus", "queued", False)
    assert (job.cancel_requested, job.rate_per_second, job.eta_seconds) == (False, None, None)

    seen: list[Job] = []
    with pytest.raises(TimeoutError):
        job.wait(timeout=0.2, poll=0.05, on_progress=seen.append)
    assert seen and all(polled.state == "queued" for polled in seen)

    cancelled = job.cancel()
    assert (cancelled.state, cancelled.cancel_requested, cancelled.finished) == (
        "cancelled",
        True,
        True,
    )
    assert cancelled.job_id == job.job_id and cancelled.finished_at is not None
    # The cancelled job can still ask: waiting ends at once, cancelling again is refused.
    assert cancelled.wait(timeout=5) == sdk.get_job(job.job_id)
    with pytest.raises(ConflictError) as refused:
        cancelled.cancel()
    assert refused.value.code == "job_not_cancellable"
    assert mturk_emulator.state.bonuses == {}
    # wait_for_job keeps taking a job or its id.
    assert sdk.wait_for_job(job.job_id).state == "cancelled"
    assert sdk.wait_for_job(job, timeout=5).state == "cancelled"


def test_a_running_job_shows_its_rate_and_time_left(sdk, paying, db, clock):
    job = queued_bonuses(sdk, paying)
    make_running(db, job.job_id, clock(), done=4, total=10)

    running = sdk.get_job(job.job_id)
    assert running.state == "running"
    assert (running.rate_per_second, running.eta_seconds) == (0.4, 15.0)
    assert running.cancel_requested is False

    progress: list[Job] = []
    with pytest.raises(TimeoutError, match=job.job_id):
        running.wait(timeout=0.1, poll=0.05, on_progress=progress.append)
    assert progress[-1].rate_per_second == 0.4

    asked = running.cancel()
    assert (asked.state, asked.cancel_requested, asked.finished) == ("running", True, False)
    assert sdk.get_job(job.job_id).cancel_requested is True


def test_every_job_a_client_returns_can_wait_and_cancel(sdk, paying, make_study, mturk_emulator):
    hit = mturk_emulator.seed_hit(assignments=2)
    study, _ = make_study(platform="mturk", hit_ids=[hit.hit_id])
    synced = sdk.sync(study["slug"], wait=False)
    assert synced.state == "queued"
    with pytest.raises(TimeoutError):
        synced.wait(timeout=0.1, poll=0.05)
    assert synced.cancel().wait().state == "cancelled"

    paid = queued_bonuses(sdk, paying)
    fetched = sdk.get_job(paid.job_id)
    cancelled = sdk.cancel_job(fetched.job_id)
    assert cancelled.wait(timeout=5).state == "cancelled"
    assert fetched.wait(timeout=5).state == "cancelled"
    with pytest.raises(ConflictError):
        paid.cancel()


def test_a_job_built_by_hand_says_it_cannot_wait(sdk, paying):
    queued = queued_bonuses(sdk, paying)
    by_hand = Job(job_id=queued.job_id, kind="bonus", study=None, state="queued")
    with pytest.raises(RuntimeError, match="not returned by a Client"):
        by_hand.wait()
    with pytest.raises(RuntimeError, match="client.cancel_job"):
        by_hand.cancel()
    # The client is no field: jobs compare and show as their fields alone.
    fetched = sdk.get_job(queued.job_id)
    assert fetched == Job.from_json({"job_id": queued.job_id, **_fields(fetched)})
    assert "Client" not in repr(fetched)
    assert fetched.with_extra(note="x").extra["note"] == "x"
    assert fetched.with_extra(note="x").cancel().state == "cancelled"


@pytest.mark.parametrize("app_config", ["inline"], indirect=True)
def test_an_inline_payment_returns_a_finished_job_that_can_still_ask(sdk, paying, mturk_emulator):
    names = workers(1)
    slug = paying(names)["slug"]
    job = sdk.bonuses.pay(slug, [{"worker_id": names[0], "amount": "0.10"}], reason="Thanks")
    assert (job.state, job.done, job.rate_per_second, job.eta_seconds) == (
        "succeeded",
        1,
        None,
        None,
    )
    assert job.wait() == sdk.get_job(job.job_id)
    with pytest.raises(ConflictError):
        job.cancel()
    assert len(mturk_emulator.state.bonuses) == 1


def _fields(job: Job) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "study": job.study,
        "state": job.state,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "counts": dict(job.counts),
        "result": dict(job.result),
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "cancel_requested": job.cancel_requested,
    }
