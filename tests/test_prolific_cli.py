"""`crowdgate prolific balance|sync|review` as a researcher runs them on a Prolific
study: a subprocess against a live service and the Prolific emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import ProlificEmulator

from tests.http import ApiClient
from tests.prolific_fixtures import prolific_settings
from tests.test_cli_researcher import run

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PEOPLE = [f"{0xF0000 + n:024x}" for n in range(2)]
CODE = "C1CLI"


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_env: ProlificEmulator) -> dict[str, Any]:
    return {**app_config, **prolific_settings(prolific_env)}


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


def test_balance_sync_and_review_under_prolific(
    env: dict[str, str],
    tmp_path: Path,
    admin: ApiClient,
    make_study: Any,
    prolific_emulator: ProlificEmulator,
) -> None:
    prolific_emulator.set_balance("250.00")
    balance = run("prolific", "balance", "--mode", "live", env=env, cwd=tmp_path)
    assert balance.returncode == 0, balance.stderr
    assert balance.stdout.strip() == "250.00 GBP (live)"

    study, page = make_study(platform="prolific", platform_completion_code=CODE)
    slug = study["slug"]
    # PEOPLE[0] did the study here; PEOPLE[1] only typed the public code on Prolific.
    assert page.post(f"/studies/{slug}/participants/{PEOPLE[0]}/start").status_code == 200
    assert page.post(f"/studies/{slug}/participants/{PEOPLE[0]}/complete").status_code == 200
    seeded = prolific_emulator.seed_study(
        places=2, participants=PEOPLE, study_codes=CODE, completion_code=CODE
    )
    assert admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.study_id]}).status_code == 200

    synced = run("prolific", "sync", slug, env=env, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    assert "succeeded" in synced.stdout

    planned = run("prolific", "review", slug, env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "study_code_valid" in planned.stdout and "completion_not_recorded" in planned.stdout
    assert "A plan only" in planned.stderr

    applied = run("prolific", "review", slug, "--apply", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    on_prolific = {
        s.participant_id: s.status
        for s in prolific_emulator.state.submissions.values()
        if s.study_id == seeded.study_id
    }
    assert on_prolific == {PEOPLE[0]: "APPROVED", PEOPLE[1]: "AWAITING REVIEW"}
