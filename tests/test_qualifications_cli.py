"""`crowdgate qualifications ...` as a researcher runs it: subprocesses talking HTTP to a
live server, which talks to the MTurk emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.test_cli_researcher import assert_one_line_error, run

# The commands reach the service over HTTP; the database behind it is another test's concern.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

WORKERS = ["AWORKER0001", "AWORKER0002", "AWORKER0003"]


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
    }


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


@pytest.fixture
def type_id(env: dict[str, str], tmp_path: Path) -> str:
    made = run(
        "qualifications", "create", "earlier participants", "--description", "Took part",
        "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return str(json.loads(made.stdout)["id"])


def granted(emulator: MTurkEmulator, type_id: str) -> dict[str, int]:
    return {
        worker: grant.value
        for (kind, worker), grant in emulator.state.grants.items()
        if kind == type_id and grant.status == "Granted"
    }


def test_create_then_reuse(env: dict[str, str], tmp_path: Path) -> None:
    args = ("qualifications", "create", "repeaters", "--description", "Took part before")
    first = run(*args, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stderr
    rows = dict(line.split() for line in first.stdout.splitlines()[1:])  # field  value
    assert rows["name"] == "repeaters" and rows["platform"] == "mturk"
    assert rows["mode"] == "sandbox"

    again = run(*args, "--json", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    reused = json.loads(again.stdout)
    assert reused["id"] == rows["id"] and reused["created"] is False

    refused = run(*args, "--no-reuse", env=env, cwd=tmp_path)
    assert_one_line_error(refused, 1, "exists already", rows["id"])


def test_grant_from_arguments_and_a_file_then_list(
    env: dict[str, str], type_id: str, mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    workers = tmp_path / "workers.txt"
    workers.write_text(f"{WORKERS[1]}\n\n  {WORKERS[2]}  \n{WORKERS[0]}\n", encoding="utf-8")
    result = run(
        "qualifications", "grant", type_id, WORKERS[0], "--file", str(workers), "--value", "4",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["worker", "outcome", "error"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [WORKERS[0], "granted"],
        [WORKERS[1], "granted"],
        [WORKERS[2], "granted"],
    ]
    assert "1 repeated worker ids skipped" in result.stderr
    assert "3 granted, 0 failed" in result.stderr
    assert granted(mturk_emulator, type_id) == dict.fromkeys(WORKERS, 4)
    assert mturk_emulator.state.messages == []  # not notified

    listed = run("qualifications", "list", type_id, "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    holders = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted((h["worker_id"], h["value"]) for h in holders) == [(w, 4) for w in WORKERS]
    assert all(h["granted_at"] for h in holders)

    table = run("qualifications", "list", type_id, env=env, cwd=tmp_path)
    assert table.stdout.splitlines()[0].split() == ["worker", "value", "granted"]
    assert "3 workers" in table.stderr


def test_a_long_file_goes_in_several_requests(
    env: dict[str, str], type_id: str, mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    workers = [f"AW{n:06d}" for n in range(230)]
    listing = tmp_path / "workers.txt"
    listing.write_text("\n".join(workers) + "\n", encoding="utf-8")
    result = run(
        "qualifications", "grant", type_id, "--file", str(listing), "--json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["worker_id"] for o in outcomes] == workers
    assert {o["outcome"] for o in outcomes} == {"granted"}
    assert sorted(granted(mturk_emulator, type_id)) == workers


def test_a_bad_id_anywhere_stops_before_anything_is_sent(
    env: dict[str, str], type_id: str, mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    workers = [f"AW{n:06d}" for n in range(150)]
    workers[129] = "aw-lowercase"
    listing = tmp_path / "workers.txt"
    listing.write_text("\n".join(workers) + "\n", encoding="utf-8")
    result = run("qualifications", "grant", type_id, "--file", str(listing), env=env, cwd=tmp_path)
    assert_one_line_error(result, 1, "line 130 of", "aw-lowercase", "mturk worker id")
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 0

    nobody = run("qualifications", "grant", type_id, env=env, cwd=tmp_path)
    assert_one_line_error(nobody, 2, "Name the workers")


def test_revoke_reports_each_worker_and_exits_1_on_a_failure(
    env: dict[str, str], type_id: str, mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    assert (
        run("qualifications", "grant", type_id, *WORKERS[:2], env=env, cwd=tmp_path).returncode == 0
    )
    result = run(
        "qualifications", "revoke", type_id, *WORKERS, "--reason", "You may take part again",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(result, 1, "1 of 3 workers failed")
    rows = [line.split(None, 2) for line in result.stdout.splitlines()[1:]]
    assert [row[:2] for row in rows] == [
        [WORKERS[0], "revoked"],
        [WORKERS[1], "revoked"],
        [WORKERS[2], "failed"],
    ]
    assert rows[2][2].startswith("AWS.MechanicalTurk.QualificationDoesNotExist: ")
    assert "2 revoked, 1 failed" in result.stderr
    assert granted(mturk_emulator, type_id) == {}
    assert {m.text for m in mturk_emulator.state.messages} == {"You may take part again"}

    no_reason = run("qualifications", "revoke", type_id, WORKERS[0], env=env, cwd=tmp_path)
    assert_one_line_error(no_reason, 2, "--reason")


def test_live_revocations_need_confirm_live(
    env: dict[str, str], mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    live = ("--mode", "live")
    made = run(
        "qualifications", "create", "live type", "--description", "d", *live, "--json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    live_id = json.loads(made.stdout)["id"]
    assert (
        run("qualifications", "grant", live_id, WORKERS[0], *live, env=env, cwd=tmp_path).returncode
        == 0
    )
    args = ("qualifications", "revoke", live_id, WORKERS[0], "--reason", "Reset", *live)
    refused = run(*args, env=env, cwd=tmp_path)
    assert_one_line_error(refused, 2, "--confirm-live")
    assert mturk_emulator.faults.calls["DisassociateQualificationFromWorker"] == 0

    done = run(*args, "--confirm-live", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 revoked, 0 failed" in done.stderr


def test_platform_errors_are_one_line(
    env: dict[str, str], type_id: str, mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    unknown = run("qualifications", "list", "3NOSUCHTYPE", env=env, cwd=tmp_path)
    assert_one_line_error(unknown, 1, "no qualification type '3NOSUCHTYPE'", "request id:")

    nowhere = run(
        "qualifications", "create", "x", "--description", "d", "--platform", "none",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(nowhere, 1, "has no qualifications")

    mturk_emulator.faults.fail_next("AssociateQualificationWithWorker", "throttle")
    throttled = run("qualifications", "grant", type_id, *WORKERS, env=env, cwd=tmp_path)
    assert_one_line_error(throttled, 1, "1 of 3 workers failed", "try them again later")
    assert sorted(granted(mturk_emulator, type_id)) == WORKERS[1:]
