"""`crowdgate message` as a researcher runs it: a subprocess against a live service and the
MTurk emulator. The plan comes first, sending needs a yes, the summary counts each
outcome, and a second run reaches nobody twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.test_cli_researcher import assert_one_line_error, run

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

WORKERS = ["A1CLIMSG00001", "A1CLIMSG00002", "A1CLIMSG00003"]


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env}


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key, "COLUMNS": "200"}


@pytest.fixture
def slug(make_study: Any, mturk_emulator: MTurkEmulator) -> str:
    study, page = make_study(platform="mturk", mode="sandbox")
    for worker in WORKERS:
        started = page.post(f"/studies/{study['slug']}/participants/{worker}/start")
        assert started.status_code == 200, started.text
    # The third never worked for this requester on MTurk: NotifyWorkers refuses them.
    mturk_emulator.seed_workers(WORKERS[:2])
    return str(study["slug"])


def test_send_plan_confirm_summary_and_repeat(
    env: dict[str, str], tmp_path: Path, slug: str, mturk_emulator: MTurkEmulator
) -> None:
    body = tmp_path / "body.txt"
    body.write_text("Your bonus is on its way.\n", encoding="utf-8")
    args = ("message", "send", slug, "--subject", "Thanks", "--body-file", str(body))

    planned = run(*args, "--status", "started", "--dry-run", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "workers to message" in planned.stdout and WORKERS[0] in planned.stdout
    assert "A plan only" in planned.stderr
    assert mturk_emulator.state.messages == []

    declined = run(*args, "--status", "started", env=env, cwd=tmp_path, input="n\n")
    assert_one_line_error(declined, 1, "nothing was sent")
    assert mturk_emulator.state.messages == []

    sent = run(*args, "--status", "started", "--yes", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    header, values = _summary(sent.stdout)
    assert header == ["sent", "soft", "failure", "hard", "failure", "unclear", "unsent", "refused"]
    assert values == ["2", "0", "1", "0", "0", "0"], sent.stdout
    assert f"hard_failure: {WORKERS[2]}" in sent.stderr
    assert sorted(m.worker_id for m in mturk_emulator.state.messages) == WORKERS[:2]

    again = run(*args, "--status", "started", "--yes", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Nobody new to message" in again.stderr
    assert len(mturk_emulator.state.messages) == 2

    listed = run("message", "list", slug, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "Thanks" in listed.stdout, listed.stdout
    recipients = run("message", "recipients", slug, "1", "--outcome", "sent", env=env, cwd=tmp_path)
    assert recipients.returncode == 0, recipients.stderr
    assert all(w in recipients.stdout for w in WORKERS[:2]) and WORKERS[2] not in recipients.stdout


def test_named_workers_refusals_and_usage(
    env: dict[str, str], tmp_path: Path, slug: str, mturk_emulator: MTurkEmulator
) -> None:
    listed = tmp_path / "workers.csv"
    listed.write_text(f"WorkerId,note\n{WORKERS[0]},x\nA1NOTHERE00001,y\n", encoding="utf-8")
    base = ("message", "send", slug, "--subject", "Hi", "--body", "Thanks")
    refused = run(*base, "--workers-file", str(listed), "--yes", env=env, cwd=tmp_path)
    assert_one_line_error(refused, 1, "refused", "nothing was sent")
    assert "not_a_participant" in refused.stdout, refused.stdout
    assert mturk_emulator.state.messages == []

    one = run(*base, "--worker-id", WORKERS[1], "--yes", "--json", env=env, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert '"sent": 1' in one.stdout
    assert [m.worker_id for m in mturk_emulator.state.messages] == [WORKERS[1]]

    too_long = run(*base[:4], "x" * 201, "--body", "Thanks", "--status", "started",
                   env=env, cwd=tmp_path)  # fmt: skip
    assert_one_line_error(too_long, 1, "subject")

    neither = run(*base, env=env, cwd=tmp_path)
    assert neither.returncode == 2 and "--worker-id" in neither.stderr
    both = run(*base, "--worker-id", WORKERS[0], "--status", "started", env=env, cwd=tmp_path)
    assert both.returncode == 2
    no_body = run("message", "send", slug, "--subject", "Hi", "--status", "started",
                  env=env, cwd=tmp_path)  # fmt: skip
    assert no_body.returncode == 2 and "--body" in no_body.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody yet\n", encoding="utf-8")
    nobody = run(*base, "--workers-file", str(empty), env=env, cwd=tmp_path)
    assert_one_line_error(nobody, 1, "lists no workers")


def _summary(stdout: str) -> tuple[list[str], list[str]]:
    """The summary table's header words and its one row of numbers."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    at = next(i for i, line in enumerate(lines) if "soft failure" in line and "refused" in line)
    clean = [line.replace("│", " ").replace("┃", " ") for line in lines[at : at + 3]]
    header = clean[0].split()
    values = next(line.split() for line in clean[1:] if line.split() and line.split()[0].isdigit())
    return header, values
