"""A Prolific bonus job whose server is killed with SIGKILL while a pay is on its way,
then restarted: the pay Prolific took after the kill is found among the submissions'
bonuses and the rows settled as sent; nobody is paid twice.

The service runs as a real `crowdgate serve` process group; the emulator holds each
call 200 ms before carrying it out, so a pay received just before the kill is made
after the runner is gone, as a crash at the worst moment would leave it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from crowdgate.db import Database
from crowdgate.domain.keys import create_admin_key
from crowdgate.models import Bonus, Job
from crowdgate.testing import ProlificEmulator
from sqlalchemy import select

from tests.http import ApiClient
from tests.prolific_fixtures import prolific_settings
from tests.served import STALE_SECONDS, Served, serving, wait_until_quiet
from tests.test_bonus_jobs import wait_job
from tests.test_prolific_bonuses import paid, pay_queued, paying_study, times_paid

COUNT = 1000
PEOPLE = [f"{0xC00000 + n:024x}" for n in range(COUNT)]


@pytest.fixture
def servers(
    db_url: str, prolific_emulator: ProlificEmulator, tmp_path: Path
) -> Iterator[Callable[[], Served]]:
    # A lost answer reaches the job at once (max_attempts 1).
    reach = prolific_settings(prolific_emulator, max_attempts=1)
    settings = {
        **{name: str(value) for name, value in reach.items()},
        "CROWDGATE_PROLIFIC_PAY_SETTLE_SECONDS": "5",
        # The killed job's heartbeat is soon old: the next runner takes it.
        "CROWDGATE_JOB_STALE_SECONDS": str(STALE_SECONDS),
        "CROWDGATE_JOB_RUNNER": "queue",
    }
    with serving(db_url, settings, tmp_path) as start:
        yield start


def test_sigkill_while_a_prolific_pay_is_in_flight_pays_each_participant_once(
    db_url: str, servers: Any, prolific_emulator: ProlificEmulator
) -> None:
    db = Database(db_url)
    try:
        with db.write() as session:
            key = create_admin_key(session, name="tests", now=datetime.now(UTC))
        first = servers()
        with ApiClient(first.url, admin_key=key) as api:
            study = paying_study(api, prolific_emulator, PEOPLE, slug="crash")
            prolific_emulator.faults.configure(latency_ms=200)
            # The second pay is taken and its connection dropped: settled by the first
            # runner from the submissions, before the kill.
            prolific_emulator.faults.fail_next("PayBonus", "drop", times=1, after=1)
            job_id = pay_queued(api, study.slug, study.items())
            midway = wait_job(api, job_id, lambda job: job["done"] >= 2 * COUNT // 5)
            # Kill as soon as the next pay reaches the emulator, which carries it out
            # 200 ms later: Prolific pays, and the runner never learns it.
            calls = prolific_emulator.faults.calls["PayBonus"]
            deadline = time.monotonic() + 60
            while prolific_emulator.faults.calls["PayBonus"] == calls:
                assert time.monotonic() < deadline, "the job stopped paying"
                time.sleep(0.002)
            first.kill()
        assert midway["state"] == "running" and midway["done"] < COUNT, midway

        wait_until_quiet(prolific_emulator.faults)  # the pay in flight lands
        with db.read() as session:
            killed = session.get(Job, job_id)
            assert killed is not None and killed.state == "running"
            in_flight = list(
                session.scalars(
                    select(Bonus).where(
                        Bonus.state == "sending", Bonus.pay_requested_at.is_not(None)
                    )
                )
            )
        assert in_flight, "no pay was on its way at the kill"
        batches = {row.batch_id for row in in_flight}
        with prolific_emulator.state.lock:
            assert all(prolific_emulator.state.bulk_bonuses[b].times_paid == 1 for b in batches)
        assert sum(paid(prolific_emulator).values()) < COUNT

        time.sleep(STALE_SECONDS + 0.5)  # past CROWDGATE_JOB_STALE_SECONDS
        prolific_emulator.faults.configure(latency_ms=5)
        second = servers()
        with ApiClient(second.url, admin_key=key) as api:
            job = wait_job(api, job_id, timeout=180)
            assert job["state"] == "succeeded", job
            assert (job["total"], job["done"], job["failed"]) == (COUNT, COUNT, 0), job
            # The dropped pay's rows (settled before the kill) and the killed one's.
            assert job["counts"]["settled_after_restart"] >= len(in_flight), job

            assert paid(prolific_emulator) == study.expected()
            assert all(n <= 1 for n in times_paid(prolific_emulator))
            with db.read() as session:
                states = {state for (state,) in session.execute(select(Bonus.state).distinct())}
            assert states == {"sent"}

            # The same items again are all in the ledger: nothing more is paid.
            pays = prolific_emulator.faults.calls["PayBonus"]
            again = wait_job(api, pay_queued(api, study.slug, study.items()))
            assert again["state"] == "succeeded" and again["total"] == 0, again
            assert prolific_emulator.faults.calls["PayBonus"] == pays
            assert paid(prolific_emulator) == study.expected()
    finally:
        db.dispose()
