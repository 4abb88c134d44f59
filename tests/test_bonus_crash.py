"""A bonus job whose server is killed with SIGKILL midway, then restarted: the restarted
runner takes the stale job over and pays the rest, and no bonus is paid twice.

The service runs as a real `crowdgate serve` process group (gunicorn master and worker,
with the job runner thread) so the kill takes the job down in the middle of its calls,
as a crash or an OOM kill would. MTurk meanwhile answers some calls badly after paying
(a 500, or a dropped connection), so the ledger also holds rows whose outcome the
killed runner had not learnt.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from crowdgate.db import Database
from crowdgate.domain.keys import create_admin_key
from crowdgate.models import Bonus, Job
from crowdgate.testing import MTurkEmulator
from sqlalchemy import func, select

from tests.http import ApiClient
from tests.served import STALE_SECONDS, Served, serving, wait_until_quiet
from tests.test_bonus_jobs import (
    assert_paid_once_each,
    emulator_paid,
    emulator_tokens,
    pay,
    paying_study,
    wait_job,
)

COUNT = 2000


@pytest.fixture
def servers(db_url: str, mturk_env: str, tmp_path: Path) -> Iterator[Callable[[], Served]]:
    settings = {
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        # A lost answer reaches the job at once; the job sends the row again itself.
        "CROWDGATE_MTURK_MAX_ATTEMPTS": "1",
        # The killed job's heartbeat is soon old: the next runner takes it.
        "CROWDGATE_JOB_STALE_SECONDS": str(STALE_SECONDS),
        "CROWDGATE_JOB_RUNNER": "queue",
        "CROWDGATE_BONUS_CONCURRENCY": "8",
    }
    with serving(db_url, settings, tmp_path) as start:
        yield start


def states(db: Database) -> dict[str, int]:
    with db.read() as session:
        return dict(session.execute(select(Bonus.state, func.count()).group_by(Bonus.state)).all())


def test_sigkill_mid_bonus_job_then_restart_pays_each_bonus_exactly_once(
    db_url: str, servers: Any, mturk_emulator: MTurkEmulator
) -> None:
    db = Database(db_url)
    try:
        with db.write() as session:
            key = create_admin_key(session, name="tests", now=datetime.now(UTC))
        first = servers()
        with ApiClient(first.url, admin_key=key) as api:
            study = paying_study(api, mturk_emulator, COUNT, slug="crash")
            # Slow enough for the kill to land mid-job; and now and then a call that
            # pays and then answers 500, or pays and never answers.
            mturk_emulator.faults.configure(latency_ms=30)
            for n in range(40):
                mturk_emulator.faults.fail_next(
                    "SendBonus", "500" if n % 2 else "drop", times=1, after=37
                )
            job = pay(api, study.slug, study.items())
            assert job["state"] == "queued", job
            job_id = job["job_id"]
            midway = wait_job(api, job_id, lambda job: job["done"] >= COUNT // 5)
            # Between batches the runner may be backing off: kill once the next batch
            # is on its way, so that rows are in flight.
            calls = mturk_emulator.faults.calls["SendBonus"]
            deadline = time.monotonic() + 60
            while mturk_emulator.faults.calls["SendBonus"] < calls + 60:
                assert time.monotonic() < deadline, "the job stopped sending"
                time.sleep(0.005)
            first.kill()
        assert midway["state"] == "running" and midway["done"] <= COUNT * 4 // 5, midway
        assert mturk_emulator.faults.injected["500"] + mturk_emulator.faults.injected["drop"]

        # Calls in flight at the kill still arrive and pay; let them land first.
        wait_until_quiet(mturk_emulator.faults)
        with db.read() as session:
            killed = session.get(Job, job_id)
            assert killed is not None and killed.state == "running"
            dead_runner = killed.claimed_by
            in_flight = set(session.scalars(select(Bonus.id).where(Bonus.state == "sending")).all())
        left = states(db)
        assert in_flight and left.get("pending", 0) > 0 and left.get("sent", 0) >= COUNT // 5, left
        assert sum(emulator_paid(mturk_emulator).values()) < COUNT
        # Of the rows the killed runner was sending, those MTurk paid must be found
        # paid, not paid again.
        paid_tokens = emulator_tokens(mturk_emulator)
        found_paid = {i for i in in_flight if f"crowdgate-bonus-{i}" in paid_tokens}

        time.sleep(STALE_SECONDS + 0.5)  # past CROWDGATE_JOB_STALE_SECONDS
        mturk_emulator.faults.configure(latency_ms=5)
        second = servers()
        with ApiClient(second.url, admin_key=key) as api:
            job = wait_job(api, job_id, timeout=180)
            assert job["state"] == "succeeded", job
            assert (job["total"], job["done"], job["failed"]) == (COUNT, COUNT, 0), job
            assert job["counts"]["settled_after_restart"] == len(found_paid), job
            with db.read() as session:
                resumed = session.get(Job, job_id)
                assert resumed is not None
                assert resumed.claimed_by != dead_runner and resumed.attempts == 2

            # Exactly one payment per item, across both processes, and the ledger agrees.
            assert emulator_paid(mturk_emulator) == study.expected()
            assert sum(emulator_paid(mturk_emulator).values()) == COUNT
            assert_paid_once_each(api, mturk_emulator, study)

            # The same items again are all in the ledger: nothing more is sent.
            calls = mturk_emulator.faults.calls["SendBonus"]
            again = pay(api, study.slug, study.items())
            again = wait_job(api, again["job_id"])
            assert again["state"] == "succeeded" and again["total"] == 0, again
            assert mturk_emulator.faults.calls["SendBonus"] == calls
            assert emulator_paid(mturk_emulator) == study.expected()
            assert Counter(states(db)) == {"sent": COUNT}
    finally:
        db.dispose()
