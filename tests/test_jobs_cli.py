"""`crowdgate jobs show` and `crowdgate jobs cancel` as a researcher runs them: a subprocess
against a live service whose jobs are queued (CROWDGATE_JOB_RUNNER=queue)."""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from crowdgate.commands.job_progress import duration, pace
from crowdgate_client import Client, Job

from tests.test_bonus_upload import bonus_study
from tests.test_bonuses import workers
from tests.test_cli_researcher import assert_one_line_error, run
from tests.test_sdk_jobs import make_running


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_JOB_RUNNER": "queue",
    }


@pytest.fixture
def paying(make_study: Any, mturk_emulator: Any) -> Any:
    return functools.partial(bonus_study, make_study, mturk_emulator)


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key, "COLUMNS": "200"}


@pytest.fixture
def job_id(server: Any, admin_key: str, paying: Any) -> str:
    """A queued bonus job of a sandbox study."""
    names = workers(2)
    slug = paying(names)["slug"]
    with Client(server.url, admin_key) as client:
        job = client.pay_bonuses(
            slug, [{"worker_id": n, "amount": "0.30"} for n in names], reason="Thanks", wait=False
        )
    assert job.state == "queued"
    return job.job_id


def fields(stdout: str) -> dict[str, str]:
    """The 'name  value' table as a dict (names of one or two words)."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0] not in ("field", "─"):
            name, value = parts
            if name in ("time", "cancel") and " " in value:
                more, value = value.split(None, 1)
                name = f"{name} {more}"
            found[name] = value.strip()
    return found


def test_show_a_queued_then_running_job_and_cancel_it(
    env: dict[str, str], tmp_path: Path, job_id: str, db: Any, clock: Any, mturk_emulator: Any
) -> None:
    shown = run("jobs", "show", job_id, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    table = fields(shown.stdout)
    assert (table["job"], table["kind"], table["state"]) == (job_id, "bonus", "queued")
    assert "rate" not in table and "time left" not in table

    as_json = run("jobs", "show", job_id, "--json", env=env, cwd=tmp_path)
    body = json.loads(as_json.stdout)
    assert (body["job_id"], body["state"], body["cancel_requested"]) == (job_id, "queued", False)
    assert body["rate_per_second"] is None and body["eta_seconds"] is None

    make_running(db, job_id, clock(), done=4, total=10)
    running = fields(run("jobs", "show", job_id, env=env, cwd=tmp_path).stdout)
    assert running["state"] == "running" and running["done"] == "4 of 10"
    assert (running["rate"], running["time left"]) == ("0.4 items/s", "about 15 s")

    asked = run("jobs", "cancel", job_id, env=env, cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert fields(asked.stdout)["cancel requested"] == "yes"
    assert "will stop before its next batch" in asked.stderr
    assert mturk_emulator.state.bonuses == {}


def test_cancel_a_queued_job_then_errors_in_one_line(
    env: dict[str, str], tmp_path: Path, job_id: str
) -> None:
    cancelled = run("jobs", "cancel", job_id, env=env, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert fields(cancelled.stdout)["state"] == "cancelled"
    assert f"Job {job_id} is cancelled." in cancelled.stderr

    again = run("jobs", "cancel", job_id, env=env, cwd=tmp_path)
    assert_one_line_error(again, 1, "nothing left to cancel")
    waited = run("jobs", "show", job_id, "--wait", env=env, cwd=tmp_path)
    assert_one_line_error(waited, 1, f"job {job_id} cancelled")
    assert fields(waited.stdout)["state"] == "cancelled"
    missing = run("jobs", "show", "no-such-job", env=env, cwd=tmp_path)
    assert_one_line_error(missing, 1, "no-such-job")


def test_pace_reads_as_a_person_reads_it() -> None:
    base = Job(job_id="j", kind="bonus", study=None, state="running")
    assert pace(base) == ""
    going = Job(
        job_id="j",
        kind="bonus",
        study=None,
        state="running",
        rate_per_second=2.5,
        eta_seconds=200,
        cancel_requested=True,
    )
    assert pace(going) == "2.5/s, about 3 min 20 s left, cancelling"
    assert [duration(s) for s in (0, 59.6, 3599, timedelta(hours=2).total_seconds())] == [
        "0 s",
        "1 min 00 s",
        "59 min 59 s",
        "2 h 00 min",
    ]
