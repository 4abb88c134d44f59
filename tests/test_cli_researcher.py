"""Researcher commands as a researcher runs them: subprocesses talking HTTP to a live server."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.http import ApiClient

# The commands reach the service over HTTP; the database behind it is another test's concern.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FIXTURES = Path(__file__).parent / "fixtures"  # copies of the shared format examples


def run(*args: str, env: dict[str, str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROWDGATE_")}
    if "stderr" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        text=True,
        timeout=120,
        **kwargs,
    )


@pytest.fixture
def env(server, admin_key) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


def assert_one_line_error(result: subprocess.CompletedProcess, status: int, *needles: str) -> None:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_studies_create_list_show_update(env, tmp_path):
    created = run(
        "studies", "create", "memory-1", "--title", "Memory", "--condition", "short=10",
        "--condition", "long=20", "--allowed-origin", "https://survey.example.org",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "cgs_" in created.stdout and "short (10), long (20)" in created.stdout
    assert "cannot be shown again" in created.stderr

    listed = run("studies", "list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split()[:3] == ["slug", "platform", "mode"]
    assert row.split()[:3] == ["memory-1", "none", "sandbox"]

    as_json = run("studies", "show", "memory-1", "--json", env=env, cwd=tmp_path)
    study = json.loads(as_json.stdout)
    assert study["conditions"] == [{"name": "short", "target": 10}, {"name": "long", "target": 20}]
    assert study["allowed_origins"] == ["https://survey.example.org"]
    assert "survey_key" not in study

    updated = run(
        "studies", "update", "memory-1", "--title", "Memory, again", "--allow-repeats", "--json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    changed = json.loads(updated.stdout)
    assert changed["title"] == "Memory, again" and changed["allow_repeats"] is True
    assert changed["conditions"] == study["conditions"]  # untouched: not given


def test_flags_stand_in_for_the_environment(server, admin_key, tmp_path):
    result = run(
        "studies", "list", "--json", "--url", server.url, "--api-key", admin_key,
        env={}, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no studies yet: JSON lines, none of them


@pytest.fixture
def walked(env, make_study) -> dict[str, Any]:
    """A study with three workers: one completed, two started."""
    study, page = make_study(conditions=[{"name": "a", "target": 5}, {"name": "b", "target": 5}])
    slug = study["slug"]
    for worker in ("w-1", "w-2", "=cmd|calc"):
        assert page.post(f"/studies/{slug}/participants/{worker}/start").status_code == 200
    done = page.post(f"/studies/{slug}/participants/w-1/complete").json()
    return {"slug": slug, "code": done["completion_code"], "page": page}


def test_participants_list_filters_and_json_lines(env, walked, tmp_path):
    slug = walked["slug"]
    table = run("participants", "list", slug, env=env, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    workers = [line.split()[0] for line in table.stdout.splitlines()[1:]]
    assert workers == ["w-1", "w-2", "=cmd|calc"]
    assert "3 participants" in table.stderr

    completed = run(
        "participants", "list", slug, "--status", "completed", "--json", env=env, cwd=tmp_path
    )
    rows = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [(r["worker_id"], r["completion_code"]) for r in rows] == [("w-1", walked["code"])]
    assert rows[0]["state"] == {}

    shown = run("participants", "show", slug, "w-1", "--json", env=env, cwd=tmp_path)
    detail = json.loads(shown.stdout)
    assert [event["status"] for event in detail["events"]] == ["started", "completed"]


def test_export_to_a_file_and_to_stdout_match_the_service(env, walked, admin, tmp_path):
    slug = walked["slug"]
    expected = admin.get(f"/studies/{slug}/participants.csv").content
    to_file = run("participants", "export", slug, "-o", "out.csv", env=env, cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    assert (tmp_path / "out.csv").read_bytes() == expected
    assert f"wrote {len(expected)} bytes" in to_file.stderr
    # Not a terminal: no progress bar, nothing but the summary line.
    assert to_file.stderr.strip().count("\n") == 0

    to_stdout = run("participants", "export", slug, "--status", "started", env=env, cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(to_stdout.stdout)))
    assert sorted(row["worker_id"] for row in rows) == ["'=cmd|calc", "w-2"]


def test_export_shows_progress_on_a_terminal(env, walked, tmp_path):
    controller, terminal = pty.openpty()
    try:
        result = run(
            "participants", "export", walked["slug"], "-o", "out.csv",
            env={**env, "COLUMNS": "100"}, cwd=tmp_path, stderr=terminal, stdout=subprocess.PIPE,
        )  # fmt: skip
        os.set_blocking(controller, False)
        shown = os.read(controller, 65536).decode(errors="replace")
    finally:
        os.close(controller)
        os.close(terminal)
    assert result.returncode == 0
    assert "exporting" in shown and "wrote" in shown


def test_codes_verify_one_code(env, walked, tmp_path):
    slug, code = walked["slug"], walked["code"]
    valid = run("codes", "verify", slug, code.lower(), "--worker-id", "w-1", env=env, cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "1 of 1 valid" in valid.stderr

    other = run(
        "codes", "verify", slug, code, "--worker-id", "w-2", "--json", env=env, cwd=tmp_path
    )
    assert other.returncode == 3
    (line,) = other.stdout.splitlines()
    answer = json.loads(line)["result"]
    assert answer["valid"] is False and answer["reason"] == "other_worker"
    assert answer["code_worker_id"] == "w-1"


def test_codes_verify_a_batch_results_file(env, walked, tmp_path):
    slug, code = walked["slug"], walked["code"]
    batch = tmp_path / "Batch_123_batch_results.csv"
    batch.write_text(
        f"HITId,WorkerId,Answer.surveycode\nH1,w-1,{code}\nH1,w-2,NOTACODE99\nH1,w-3,\n",
        encoding="utf-8",
    )
    result = run("codes", "verify", slug, "--file", str(batch), "--json", env=env, cwd=tmp_path)
    assert result.returncode == 3
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["worker_id"], a["result"] and a["result"]["valid"]) for a in answers] == [
        ("w-1", True),
        ("w-2", False),
        ("w-3", None),
    ]
    assert "1 of 3 valid" in result.stderr


def test_codes_verify_skips_qualtrics_header_lines(env, walked, tmp_path):
    export = FIXTURES / "qualtrics_export.csv"
    if not export.exists():
        pytest.skip(f"fixture {export} is not in this checkout")
    with export.open(newline="", encoding="utf-8-sig") as file:
        responses = len(list(csv.reader(file))) - 3  # names, question texts, ImportIds
    result = run(
        "codes", "verify", walked["slug"], "--file", str(export), "--code-column", "Random ID",
        "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr  # Qualtrics' own ids are not crowdgate codes
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == responses
    assert all(not a["code"].startswith("{") and a["code"] != "Random ID" for a in answers)


def test_errors_are_one_line_and_a_nonzero_exit(env, server, walked, tmp_path):
    no_url = run("studies", "list", env={"CROWDGATE_API_KEY": "x"}, cwd=tmp_path)
    assert_one_line_error(no_url, 2, "CROWDGATE_URL")

    wrong_key = run("studies", "list", env={**env, "CROWDGATE_API_KEY": "cga_wrong"}, cwd=tmp_path)
    assert_one_line_error(wrong_key, 1, "admin key is not valid", "request id:")

    unknown = run("participants", "list", "no-such-study", env=env, cwd=tmp_path)
    assert_one_line_error(unknown, 1, "no-such-study")

    invalid = run("studies", "create", "Not A Slug", env=env, cwd=tmp_path)
    assert_one_line_error(invalid, 1, "slug")

    bad_condition = run("studies", "create", "x", "--condition", "control", env=env, cwd=tmp_path)
    assert_one_line_error(bad_condition, 2, "NAME=TARGET")

    with ApiClient(server.url) as nobody:
        assert nobody.get("/health").ok  # the server is up: only the next URL is wrong
    unreachable = run(
        "studies", "list", env={**env, "CROWDGATE_URL": "http://127.0.0.1:9"}, cwd=tmp_path
    )
    assert_one_line_error(unreachable, 1, "no answer")
    assert unreachable.stderr.strip().count("\n") == 0

    unwritable = run(
        "participants", "export", walked["slug"], "-o", str(tmp_path / "missing-dir" / "x.csv"),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert unwritable.returncode != 0 and "Traceback" not in unwritable.stderr
