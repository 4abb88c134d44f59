"""Review of a Prolific study whose participants enter the study's shared completion code,
against the Prolific emulator over HTTP, on both databases: the shared code is approved only
for participants crowdgate saw complete, and rejections carry Prolific's category."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from typing import Any

import pytest
from crowdgate.testing import ProlificEmulator

from tests.http import ApiClient, assert_error
from tests.prolific_fixtures import prolific_settings

SHARED = "C1SHARED"
DID_IT, PASTED, OWN_CODE = (f"{n:024x}" for n in range(0xB1, 0xB4))
LONG_FEEDBACK = (
    "Thank you for your interest. We have no record of you completing this study, so the "
    "completion code you entered cannot be accepted."
)


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_env: ProlificEmulator) -> dict[str, Any]:
    return {
        **app_config,
        **prolific_settings(prolific_env, max_attempts=4),
    }


def finish(page: ApiClient, slug: str, worker: str) -> str:
    assert page.post(f"/studies/{slug}/participants/{worker}/start").status_code == 200
    done = page.post(f"/studies/{slug}/participants/{worker}/complete")
    assert done.status_code == 200, done.text
    return str(done.json()["completion_code"])


def review(admin: ApiClient, slug: str, **body: Any) -> dict[str, Any]:
    response = admin.post(f"/studies/{slug}/review", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["job"]
    assert job["state"] == "succeeded", job
    return job


@pytest.fixture
def synced(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> dict[str, Any]:
    """A Prolific study: one participant did it and entered the shared code, one entered
    the shared code without doing it here, one entered the code crowdgate gave them."""
    study, page = make_study(platform="prolific", platform_completion_code=SHARED)
    slug = study["slug"]
    assert study["code_answer_field"] == "study_code"  # Prolific's, without being named
    finish(page, slug, DID_IT)
    own = finish(page, slug, OWN_CODE)
    seeded = prolific_emulator.seed_study(
        places=3,
        participants=[DID_IT, PASTED, OWN_CODE],
        study_codes=[SHARED, f" {SHARED.lower()} ", own],
        completion_code=SHARED,
    )
    assert admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.study_id]}).status_code == 200
    synced = admin.post(f"/studies/{slug}/sync")
    assert synced.json()["state"] == "succeeded", synced.text
    by_worker = {
        s.participant_id: s
        for s in prolific_emulator.state.submissions.values()
        if s.study_id == seeded.study_id
    }
    return {"slug": slug, "on_prolific": by_worker}


def test_the_shared_code_counts_only_with_a_recorded_completion(
    admin: ApiClient, synced: dict[str, Any], prolific_emulator: ProlificEmulator
) -> None:
    slug = synced["slug"]
    response = admin.post(f"/studies/{slug}/review", json={})
    assert response.status_code == 200, response.text
    plan = response.json()
    got = {item["worker_id"]: (item["action"], item["reason"]) for item in plan["items"]}
    assert got == {
        DID_IT: ("approve", "study_code_valid"),
        PASTED: ("reject", "completion_not_recorded"),
        OWN_CODE: ("approve", "code_valid"),
    }
    assert plan["counts"] == {"approve": 2, "reject": 1, "flag": 0}
    assert plan["reasons"] == {
        "code_valid": 1,
        "completion_not_recorded": 1,
        "study_code_valid": 1,
    }
    rows = list(csv.DictReader(io.StringIO(admin.post(f"/studies/{slug}/review?format=csv").text)))
    assert {r["worker_id"]: r["reason"] for r in rows}[PASTED] == "completion_not_recorded"

    approved = review(admin, slug, dry_run=False)
    assert approved["counts"]["approved"] == 2 and approved["counts"]["rejected"] == 0
    on_prolific = synced["on_prolific"]
    assert on_prolific[DID_IT].status == "APPROVED"
    assert on_prolific[OWN_CODE].status == "APPROVED"
    assert on_prolific[PASTED].status == "AWAITING REVIEW"  # not approved, not yet rejected

    short = admin.post(
        f"/studies/{slug}/review",
        json={"dry_run": False, "reject_invalid": True, "reject_feedback": "No record."},
    )
    assert_error(short, 422, "validation_error", "reject_feedback")
    assert on_prolific[PASTED].status == "AWAITING REVIEW"

    rejected = review(
        admin,
        slug,
        dry_run=False,
        reject_invalid=True,
        reject_feedback=LONG_FEEDBACK,
        rejection_category="NO_DATA",
    )
    assert rejected["counts"]["rejected"] == 1
    assert on_prolific[PASTED].status == "REJECTED"
    assert on_prolific[PASTED].rejection_category == "NO_DATA"
    assert on_prolific[PASTED].rejection_message == LONG_FEEDBACK
    # The two approvals went together in one bulk approve; the rejection alone.
    calls = prolific_emulator.faults.calls
    assert (calls["BulkApprove"], calls["TransitionSubmission"]) == (1, 1)


def test_an_unknown_category_is_refused_before_any_call(
    admin: ApiClient, synced: dict[str, Any], prolific_emulator: ProlificEmulator
) -> None:
    body = {
        "dry_run": False,
        "reject_invalid": True,
        "reject_feedback": LONG_FEEDBACK,
        "rejection_category": "WRONG_CODE",
    }
    refused = assert_error(
        admin.post(f"/studies/{synced['slug']}/review", json=body),
        422,
        "validation_error",
        "rejection_category",
    )
    assert "BAD_CODE" in refused["message"]
    assert prolific_emulator.faults.calls["TransitionSubmission"] == 0
    assert {s.status for s in synced["on_prolific"].values()} == {"AWAITING REVIEW"}


def test_the_command_line_sends_the_category(
    server: Any, admin_key: str, synced: dict[str, Any], prolific_emulator: ProlificEmulator
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROWDGATE_")}
    env = {**clean, "CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}
    args = ["review", synced["slug"], "--apply", "--reject-invalid"]
    args += ["--reject-feedback", LONG_FEEDBACK]

    def crowdgate(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crowdgate.cli", "mturk", *args, *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    refused = crowdgate("--rejection-category", "nonsense")
    assert refused.returncode != 0
    assert "rejection_category" in refused.stderr and "Traceback" not in refused.stderr
    assert prolific_emulator.faults.calls["TransitionSubmission"] == 0

    applied = crowdgate("--rejection-category", "BAD_CODE")
    assert applied.returncode == 0, applied.stderr
    assert synced["on_prolific"][PASTED].rejection_category == "BAD_CODE"
