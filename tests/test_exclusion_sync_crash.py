"""A qualification sync whose server is killed with SIGKILL midway, then restarted: the
restarted sync finishes the same ledger and nobody is granted twice.

The service runs as a real `crowdgate serve` process group (gunicorn master and worker)
so the kill takes the job down mid-call, exactly as a crash or an OOM kill would.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from crowdgate.db import Database
from crowdgate.domain.keys import create_admin_key
from crowdgate.models import JobItem
from crowdgate.testing import MTurkEmulator
from sqlalchemy import func, select

from tests.served import STALE_SECONDS, serving, wait_until_quiet

WORKERS = [f"A{n:013d}" for n in range(400)]
ACTION = "AssociateQualificationWithWorker"


@pytest.fixture
def serve_env(mturk_env: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": "1",
        # The killed job's last heartbeat is soon old: the next request resumes it.
        "CROWDGATE_JOB_STALE_SECONDS": str(STALE_SECONDS),
        # The request runs the sync, as this test's kill and resume expect.
        "CROWDGATE_JOB_RUNNER": "inline",
    }
    env.pop("CROWDGATE_TEST_DATABASE_URL", None)
    return env


@pytest.fixture
def servers(db_url: str, serve_env: dict[str, str], tmp_path: Any) -> Iterator[Any]:
    with serving(db_url, serve_env, tmp_path, worker=False) as start:
        yield start


def test_sigkill_mid_sync_then_restart_grants_no_one_twice(
    db_url: str, servers: Any, mturk_emulator: MTurkEmulator
) -> None:
    db = Database(db_url)
    try:
        with db.write() as session:
            key = create_admin_key(session, name="tests", now=datetime.now(UTC))
        headers = {"Authorization": f"Bearer {key}"}
        mturk_emulator.seed_workers(WORKERS)
        first = servers()
        group = requests.put(
            f"{first.api}/exclusions/record",
            json={"mturk_qualification_name": "record", "mode": "sandbox"},
            headers=headers,
            timeout=30,
        ).json()
        type_id = group["binding"]["qualification_type_id"]
        added = requests.post(
            f"{first.api}/exclusions/record/members",
            json={"add_worker_ids": WORKERS},
            headers=headers,
            timeout=30,
        ).json()
        assert added["added"] == len(WORKERS)

        # Slow MTurk down so the kill lands in the middle of the grants.
        mturk_emulator.faults.configure(latency_ms=5)
        answers: list[Any] = []

        def apply() -> None:
            try:
                answers.append(
                    requests.post(
                        f"{first.api}/exclusions/record/sync",
                        json={"dry_run": False},
                        headers=headers,
                        timeout=120,
                    )
                )
            except requests.ConnectionError as exc:
                answers.append(exc)

        caller = threading.Thread(target=apply)
        caller.start()
        deadline = time.monotonic() + 60
        while mturk_emulator.faults.calls[ACTION] < len(WORKERS) // 3:
            assert time.monotonic() < deadline, "the sync never got going"
            time.sleep(0.01)
        first.kill()
        caller.join(timeout=30)
        wait_until_quiet(mturk_emulator.faults)
        assert isinstance(answers[0], requests.ConnectionError)
        granted_before = mturk_emulator.faults.calls[ACTION]
        assert granted_before < len(WORKERS)
        with db.read() as session:
            states = dict(
                session.execute(select(JobItem.state, func.count()).group_by(JobItem.state)).all()
            )
        assert states.get("pending", 0) > 0, states

        time.sleep(STALE_SECONDS + 0.5)  # past CROWDGATE_JOB_STALE_SECONDS
        mturk_emulator.faults.configure(latency_ms=0)
        second = servers()
        response = requests.post(
            f"{second.api}/exclusions/record/sync",
            json={"dry_run": False},
            headers=headers,
            timeout=120,
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["resumed"] is True and body["state"] == "succeeded", body
        assert body["job"]["counts"]["granted"] == len(WORKERS)

        holders = {
            worker
            for (qualification, worker), grant in mturk_emulator.state.grants.items()
            if qualification == type_id and grant.status == "Granted"
        }
        assert holders == set(WORKERS)
        # Every grant reached MTurk exactly once, across both processes.
        assert mturk_emulator.faults.calls[ACTION] == len(WORKERS)
        with db.read() as session:
            states = dict(
                session.execute(select(JobItem.state, func.count()).group_by(JobItem.state)).all()
            )
        assert states == {"done": len(WORKERS)}
    finally:
        db.dispose()
