"""The seeds' MTurk workflow, as a researcher runs it: the SDK and the CLI, through the emulator.

A study issues codes; workers type them into a HIT (one right, one wrong, one someone
else's, one none); sync pulls the HIT in, review plans and applies, and the emulator's
record shows what happened, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from crowdgate_client import Client, ConflictError, HitPlan, Job, ReviewPlan, ValidationError

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FIXTURES = Path(__file__).parent / "fixtures"  # copies of the shared format examples
WORKERS = ("AWORKERONE1", "AWORKERTWO2", "AWORKERTHREE3", "AWORKERFOUR4")


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 10,
    }


@pytest.fixture
def client(server, admin_key) -> Any:
    with Client(server.url, admin_key) as sdk:
        yield sdk


@pytest.fixture
def hit_study(client, mturk_emulator) -> dict[str, Any]:
    """A sandbox MTurk study whose HIT holds four assignments with typed codes."""
    client.create_study("jokes", platform="mturk", mode="sandbox")
    codes = {}
    for worker in WORKERS[:3]:
        client.start("jokes", worker)
        codes[worker] = client.complete("jokes", worker).completion_code
    typed = [
        {"surveycode": f"  {codes[WORKERS[0]]} "},  # right, with spaces around it
        {"surveycode": "NOTACODE12"},  # nobody's
        {"surveycode": codes[WORKERS[1]]},  # the second worker's, typed by the third
        {"feedback": "fun survey"},  # never started, typed no code
    ]
    hit = mturk_emulator.seed_hit(assignments=4, workers=list(WORKERS), answers=typed)
    client.update_study("jokes", hit_ids=[hit.hit_id])
    return {"hit": hit, "codes": codes}


def test_sync_review_and_apply_through_the_sdk(client, hit_study, mturk_emulator):
    hit = hit_study["hit"]
    job = client.sync("jokes")
    assert isinstance(job, Job) and job.state == "succeeded", job
    assert job.done == 4
    assert client.get_job(job.job_id) == job
    assert [p.worker_id for p in client.participants("jokes")][-1] == WORKERS[3]

    plan = client.review("jokes")
    assert isinstance(plan, ReviewPlan)
    by_worker = {item.worker_id: item for item in plan.items}
    assert by_worker[WORKERS[0]].action == "approve"
    assert by_worker[WORKERS[1]].action == "reject"
    assert by_worker[WORKERS[2]].action == "flag"
    assert by_worker[WORKERS[3]].action == "flag"
    assert plan.counts == {"approve": 1, "reject": 1, "flag": 2}
    assert "assignment_id,worker_id" in client.review_plan_csv("jokes")

    applied = client.review("jokes", dry_run=False, feedback="Thank you!")
    assert isinstance(applied, Job) and applied.state == "succeeded", applied
    approved = [a for a in mturk_emulator.state.assignments.values() if a.status == "Approved"]
    assert [a.worker_id for a in approved] == [WORKERS[0]]
    assert approved[0].times_approved == 1
    # Nothing is rejected unless asked: the wrong code stays submitted.
    statuses = {a.worker_id: a.status for a in mturk_emulator.state.assignments.values()}
    assert statuses[WORKERS[1]] == "Submitted"
    assert hit.hit_id in client.get_study("jokes").hit_ids

    with pytest.raises(ConflictError):
        client.cancel_job(applied.job_id)  # finished jobs cannot be cancelled


def test_hits_balance_and_live_confirmation_through_the_sdk(client, mturk_emulator):
    client.create_study("pilot", platform="mturk", mode="sandbox")
    balance = client.balance("mturk", "sandbox")
    assert balance.balance == Decimal("10000.00") and balance.currency == "USD"

    preview = client.create_hit(
        "pilot",
        title="A short survey",
        description="Ten minutes about memory",
        reward="1.00",
        assignments=20,
        survey_url="https://survey.example.org/pilot",
        micro_batches=True,
    )
    assert isinstance(preview, HitPlan) and preview.dry_run
    assert [h.assignments for h in preview.hits] == [9, 9, 2]
    assert preview.total == Decimal("24.00")  # 20 x $1.00 + 20% (micro-batches keep it)
    assert not mturk_emulator.state.hits  # a preview creates nothing

    created = client.create_hit(
        "pilot",
        title="A short survey",
        description="Ten minutes about memory",
        reward="1.00",
        assignments=20,
        survey_url="https://survey.example.org/pilot",
        micro_batches=True,
        dry_run=False,
    )
    assert len([h.hit_id for h in created.hits if h.hit_id]) == 3
    listed = client.hits("pilot")
    assert sorted(h.hit_id for h in listed) == sorted(h.hit_id for h in created.hits)
    expired = client.expire_hit("pilot", listed[0].hit_id)
    assert expired.hit_id == listed[0].hit_id

    client.create_study("for-real", platform="mturk", mode="live")
    with pytest.raises(ValidationError) as refused:
        client.create_hit(
            "for-real",
            title="t",
            description="d",
            reward="1.00",
            assignments=1,
            survey_url="https://survey.example.org/x",
            dry_run=False,
        )
    assert "confirm" in refused.value.fields


def test_reconcile_uploaded_files_through_the_sdk(client):
    batch, survey = FIXTURES / "mturk_batch_results.csv", FIXTURES / "qualtrics_export.csv"
    if not (batch.exists() and survey.exists()):
        pytest.skip(f"the fixtures in {FIXTURES} are not in this checkout")
    plan = client.reconcile_files(batch, survey, code_column="Random ID", worker_column="workerId")
    assert plan.total > 0
    assert set(plan.counts) == {"approve", "reject", "flag"}
    assert sum(plan.counts.values()) == plan.total


# --- the command line ---------------------------------------------------------------------


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROWDGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mturk_commands(server, admin_key, hit_study, mturk_emulator, tmp_path):
    env = {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}
    balance = cli("mturk", "balance", env=env, cwd=tmp_path)
    assert balance.returncode == 0, balance.stderr
    assert balance.stdout.strip() == "10000.00 USD (sandbox)"

    synced = cli("mturk", "sync", "jokes", "--json", env=env, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["state"] == "succeeded"

    plan = cli("mturk", "review", "jokes", "--csv", "plan.csv", env=env, cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "4 submissions: 1 approve, 2 flag, 1 reject" in plan.stderr
    assert "add --apply" in plan.stderr
    assert (tmp_path / "plan.csv").read_text().startswith("assignment_id,")
    assert not [a for a in mturk_emulator.state.assignments.values() if a.status != "Submitted"]

    applied = cli(
        "mturk", "review", "jokes", "--apply", "--reject-invalid", "--reject-feedback",
        "The code you entered was not issued by our survey.", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    statuses = sorted(a.status for a in mturk_emulator.state.assignments.values())
    assert statuses == ["Approved", "Rejected", "Submitted", "Submitted"]

    preview = cli(
        "mturk", "hits", "create", "jokes", "--title", "Jokes", "--description", "Tell a joke",
        "--reward", "0.20", "--assignments", "10", "--survey-url", "https://survey.example.org/j",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    assert "total 2.80 USD" in preview.stderr  # 10 x $0.20 + 40% (10 or more assignments)
    assert "add --create" in preview.stderr

    bad_reward = cli(
        "mturk", "hits", "create", "jokes", "--title", "t", "--description", "d",
        "--reward", "0.205", "--assignments", "1", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert bad_reward.returncode == 2 and "dollars and cents" in bad_reward.stderr

    listed = cli("mturk", "hits", "list", "jokes", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert hit_study["hit"].hit_id in listed.stdout

    unknown = cli("mturk", "sync", "no-such-study", env=env, cwd=tmp_path)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
