"""`crowdgate bonus` as a researcher runs it: a subprocess against a live service and the
MTurk emulator. The plan comes first, paying needs a yes, and a second run pays nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.test_cli_researcher import assert_one_line_error, run

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

WORKERS = ["A1CLIBONUS0001", "A1CLIBONUS0002"]


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env}


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


@pytest.fixture
def slug(make_study: Any, mturk_emulator: MTurkEmulator) -> str:
    study, page = make_study(platform="mturk", mode="sandbox")
    hit = mturk_emulator.seed_hit(assignments=2, workers=WORKERS)
    for worker, assignment in zip(WORKERS, hit.assignment_ids, strict=True):
        started = page.post(
            f"/studies/{study['slug']}/participants/{worker}/start",
            json={"assignment_id": assignment},
        )
        assert started.status_code == 200, started.text
    return str(study["slug"])


def test_pay_from_a_csv(
    env: dict[str, str], tmp_path: Path, slug: str, mturk_emulator: MTurkEmulator
) -> None:
    sheet = tmp_path / "bonuses.csv"
    sheet.write_text(
        f"WorkerId,amount,reason\n{WORKERS[0]},0.50,Thanks\n{WORKERS[1]},1.00,Top score\n"
    )
    planned = run("bonus", "pay", slug, "--csv", str(sheet), "--dry-run", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "1.50 USD" in planned.stdout and "A plan only" in planned.stderr
    assert mturk_emulator.state.bonuses == {}

    declined = run("bonus", "pay", slug, "--csv", str(sheet), env=env, cwd=tmp_path, input="n\n")
    assert_one_line_error(declined, 1, "nothing was paid")
    assert mturk_emulator.state.bonuses == {}

    paid = run("bonus", "pay", slug, "--csv", str(sheet), "--yes", env=env, cwd=tmp_path)
    assert paid.returncode == 0, paid.stderr
    assert "succeeded" in paid.stdout
    assert sorted(b.worker_id for b in mturk_emulator.state.bonuses.values()) == WORKERS

    again = run("bonus", "pay", slug, "--csv", str(sheet), "--yes", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Nothing new to pay" in again.stderr
    assert len(mturk_emulator.state.bonuses) == 2

    listed = run("bonus", "list", slug, "--state", "sent", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.count("sent") >= 2, listed.stdout


def test_refusals_and_bad_files(env: dict[str, str], tmp_path: Path, slug: str) -> None:
    sheet = tmp_path / "bonuses.csv"
    sheet.write_text("worker_id,amount\nA1NOTHERE00001,0.50\n")
    wide = {**env, "COLUMNS": "200"}
    refused = run(
        "bonus", "pay", slug, "--csv", str(sheet), "--reason", "Thanks", "--yes",
        env=wide, cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(refused, 1, "refused")
    assert "not_a_participant" in refused.stdout, refused.stdout

    no_amount = tmp_path / "no_amount.csv"
    no_amount.write_text("worker_id\nA1CLIBONUS0001\n")
    missing = run("bonus", "pay", slug, "--csv", str(no_amount), env=env, cwd=tmp_path)
    assert_one_line_error(missing, 1, "no amount column")

    neither = run("bonus", "pay", slug, env=env, cwd=tmp_path)
    assert neither.returncode == 2 and "--csv" in neither.stderr


def test_the_file_is_uploaded_and_the_service_names_its_lines(
    env: dict[str, str], tmp_path: Path, slug: str, mturk_emulator: MTurkEmulator
) -> None:
    sheet = tmp_path / "bonuses.csv"
    sheet.write_text(f"Participant id,amount\n{WORKERS[0]},0.50\n\n,0.20\n{WORKERS[1]},\n")
    bad = run(
        "bonus", "pay", slug, "--csv", str(sheet), "--reason", "Thanks", env=env, cwd=tmp_path
    )
    assert_one_line_error(
        bad,
        1,
        "line 4: worker_id: Missing data for required field.",
        "line 5: amount: Missing data for required field.",
    )
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr

    sheet.write_text(f"WorkerId,amount\n{WORKERS[0]},0.50\nA1NOTHERE00001,0.10\n")
    wide = {**env, "COLUMNS": "200"}
    refused = run(
        "bonus", "pay", slug, "--csv", str(sheet), "--reason", "Thanks", "--dry-run",
        env=wide, cwd=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 0, refused.stderr
    header = next(line for line in refused.stdout.splitlines() if "refused" in line)
    assert header.split()[0] == "line", refused.stdout
    assert any(
        line.split()[:2] == ["3", "A1NOTHERE00001"] for line in refused.stdout.splitlines()
    ), refused.stdout

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert_one_line_error(
        run("bonus", "pay", slug, "--csv", str(empty), env=env, cwd=tmp_path), 1, "file is empty"
    )
    assert mturk_emulator.state.bonuses == {}
