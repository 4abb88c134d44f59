"""Review on Prolific approves with its bulk approve, 100 submissions a call, and falls
back to one by one when a bulk call is refused or unanswered: each submission ends
approved once, and the one Prolific refuses fails alone."""

from __future__ import annotations

from typing import Any

import pytest
from crowdgate.testing import ProlificEmulator

from tests.http import ApiClient
from tests.prolific_fixtures import prolific_settings

SHARED = "C1SHARED"
PEOPLE = [f"{0xE0000 + n:024x}" for n in range(230)]


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_env: ProlificEmulator) -> dict[str, Any]:
    return {**app_config, **prolific_settings(prolific_env, max_attempts=2)}


def study_done_by(
    admin: ApiClient, make_study: Any, emulator: ProlificEmulator, people: list[str]
) -> tuple[str, dict[str, Any]]:
    """A synced Prolific study whose participants all finished here and entered the
    study's completion code on Prolific."""
    study, page = make_study(platform="prolific", platform_completion_code=SHARED)
    slug = study["slug"]
    for worker in people:
        assert page.post(f"/studies/{slug}/participants/{worker}/start").status_code == 200
        assert page.post(f"/studies/{slug}/participants/{worker}/complete").status_code == 200
    seeded = emulator.seed_study(
        places=len(people), participants=people, study_codes=SHARED, completion_code=SHARED
    )
    assert admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.study_id]}).status_code == 200
    assert admin.post(f"/studies/{slug}/sync").json()["state"] == "succeeded"
    on_prolific = {
        s.participant_id: s
        for s in emulator.state.submissions.values()
        if s.study_id == seeded.study_id
    }
    return slug, on_prolific


def review(admin: ApiClient, slug: str) -> dict[str, Any]:
    response = admin.post(f"/studies/{slug}/review", json={"dry_run": False})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["job"]
    assert job["state"] == "succeeded", job
    return job


def test_review_approves_in_bulk_calls_of_100(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    slug, on_prolific = study_done_by(admin, make_study, prolific_emulator, PEOPLE)
    job = review(admin, slug)
    assert job["counts"]["approved"] == len(PEOPLE) and job["failed"] == 0, job
    calls = prolific_emulator.faults.calls
    assert (calls["BulkApprove"], calls["TransitionSubmission"]) == (3, 0)
    assert {s.status for s in on_prolific.values()} == {"APPROVED"}
    assert all(s.times_approved == 1 for s in on_prolific.values())

    # Again: every submission is reviewed already (flagged so); nothing is called.
    again = review(admin, slug)
    assert again["total"] == 0 and again["counts"]["flagged_untouched"] == len(PEOPLE), again
    assert calls["BulkApprove"] == 3


def test_a_refused_bulk_call_goes_one_by_one_and_fails_only_the_refused(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    people = PEOPLE[:12]
    slug, on_prolific = study_done_by(admin, make_study, prolific_emulator, people)
    # Returned on Prolific after the sync: the record still says submitted.
    on_prolific[people[5]].status = "RETURNED"
    job = review(admin, slug)
    assert (job["counts"]["approved"], job["failed"]) == (11, 1), job
    calls = prolific_emulator.faults.calls
    assert (calls["BulkApprove"], calls["TransitionSubmission"]) == (1, 12)
    assert [p for p in people if on_prolific[p].status != "APPROVED"] == [people[5]]
    assert all(on_prolific[p].times_approved == 1 for p in people if p != people[5])


def test_an_unanswered_bulk_call_is_settled_one_by_one_without_paying_twice(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    people = PEOPLE[:8]
    slug, on_prolific = study_done_by(admin, make_study, prolific_emulator, people)
    balance = prolific_emulator.state.balance
    # Approved, then every attempt's answer lost (500 after the approvals were made).
    prolific_emulator.faults.fail_next("BulkApprove", "500", times=2)
    job = review(admin, slug)
    assert job["counts"]["approved"] == 8 and job["failed"] == 0, job
    assert prolific_emulator.faults.calls["BulkApprove"] == 2
    assert all(on_prolific[p].status == "APPROVED" for p in people)
    assert all(on_prolific[p].times_approved == 1 for p in people)
    rewards = sum(on_prolific[p].reward for p in people)
    assert balance - prolific_emulator.state.balance == rewards
