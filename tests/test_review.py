"""Review of a synced study: the plan's outcomes, CSV, and applying it against the emulator."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.http import assert_error


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 4,
    }


def complete(page: Any, slug: str, worker: str) -> str:
    assert page.post(f"/studies/{slug}/participants/{worker}/start").status_code == 200
    response = page.post(f"/studies/{slug}/participants/{worker}/complete")
    assert response.status_code == 200, response.text
    return str(response.json()["completion_code"])


@pytest.fixture
def reviewed(admin: Any, make_study: Any, mturk_emulator: Any) -> dict[str, Any]:
    """A synced study with one submission per plan outcome."""
    study, page = make_study(platform="mturk", mode="sandbox", allow_repeats=True)
    slug = study["slug"]
    good = complete(page, slug, "A1GOODWORKER1")
    other = complete(page, slug, "A1OTHERWORKR1")  # completed, never submitted on MTurk
    twice = complete(page, slug, "A1TWICE000001")
    typed = [
        ("A1GOODWORKER1", good),
        ("A1INVENTED001", "NOPE-1234"),
        ("A1BORROWER001", f"  {other.lower()} "),
        ("A1EMPTYCODE01", ""),
        ("A1TWICE000001", twice),
        ("A1TWICE000001", twice),
        ("A1ALREADY0001", "ANYTHING1"),
        ("A1FORMULA0001", '=HYPERLINK("http://x")'),
    ]
    workers = [w for w, _ in typed]
    statuses = ["Approved" if w == "A1ALREADY0001" else "Submitted" for w in workers]
    hit = mturk_emulator.seed_hit(
        assignments=len(workers),
        workers=workers,
        answers=[{"surveycode": code} for _, code in typed],
        statuses=statuses,
    )
    admin.patch(f"/studies/{slug}", json={"hit_ids": [hit.hit_id]})
    synced = admin.post(f"/studies/{slug}/sync").json()
    assert synced["state"] == "succeeded", synced
    return {
        "slug": slug,
        "hit": hit,
        "assignment": dict(zip(workers, hit.assignment_ids, strict=True)),
        "expected": dict(zip(hit.assignment_ids, EXPECTED, strict=True)),
    }


EXPECTED = [
    ("approve", "code_valid"),
    ("reject", "no_such_code"),
    ("flag", "code_of_another_worker"),
    ("flag", "code_missing"),
    ("flag", "code_used_twice"),
    ("flag", "code_used_twice"),
    ("flag", "already_reviewed"),
    ("reject", "no_such_code"),
]


def test_dry_run_plan_has_each_outcome_and_changes_nothing(admin, reviewed, mturk_emulator):
    response = admin.post(f"/studies/{reviewed['slug']}/review", json={})
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["dry_run"] is True
    got = {item["assignment_id"]: (item["action"], item["reason"]) for item in plan["items"]}
    assert got == reviewed["expected"]
    assert plan["counts"] == {"approve": 1, "reject": 2, "flag": 5}
    assert plan["reasons"] == {
        "already_reviewed": 1,
        "code_missing": 1,
        "code_of_another_worker": 1,
        "code_used_twice": 2,
        "code_valid": 1,
        "no_such_code": 2,
    }
    item = next(i for i in plan["items"] if i["worker_id"] == "A1GOODWORKER1")
    assert item["assignment_id"] == reviewed["assignment"]["A1GOODWORKER1"]
    assert mturk_emulator.faults.calls["ApproveAssignment"] == 0
    assert mturk_emulator.faults.calls["RejectAssignment"] == 0


def test_plan_as_csv_with_formulas_defused(admin, reviewed):
    by_accept = admin.post(
        f"/studies/{reviewed['slug']}/review", json={}, headers={"Accept": "text/csv"}
    )
    by_format = admin.post(f"/studies/{reviewed['slug']}/review?format=csv", json={})
    assert by_accept.headers["Content-Type"].startswith("text/csv")
    assert by_accept.text == by_format.text
    rows = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert {r["assignment_id"]: (r["action"], r["reason"]) for r in rows} == reviewed["expected"]
    formula = next(r for r in rows if r["worker_id"] == "A1FORMULA0001")
    assert formula["code"].startswith("'=")


def test_apply_approves_only_valid_ones_and_is_safe_to_repeat(admin, reviewed, mturk_emulator, db):
    slug = reviewed["slug"]
    response = admin.post(f"/studies/{slug}/review", json={"dry_run": False, "feedback": "Thanks"})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"/jobs/{response.json()['job_id']}")
    job = response.json()["job"]
    assert job["state"] == "succeeded", job
    assert job["counts"]["approved"] == 1 and job["counts"]["rejected"] == 0
    assignments = mturk_emulator.state.assignments
    good = assignments[reviewed["assignment"]["A1GOODWORKER1"]]
    assert good.status == "Approved" and good.feedback == "Thanks"
    assert assignments[reviewed["assignment"]["A1INVENTED001"]].status == "Submitted"
    for flagged in ("A1BORROWER001", "A1EMPTYCODE01", "A1TWICE000001"):
        assert assignments[reviewed["assignment"][flagged]].status == "Submitted"
    participant = admin.get(f"/studies/{slug}/participants/A1GOODWORKER1").json()
    assert participant["status"] == "approved"

    again = admin.post(f"/studies/{slug}/review", json={"dry_run": False}).json()["job"]
    assert again["counts"]["approved"] == 0
    assert good.times_approved == 1
    plan = admin.post(f"/studies/{slug}/review", json={}).json()
    good_item = next(i for i in plan["items"] if i["worker_id"] == "A1GOODWORKER1")
    assert good_item["reason"] == "already_reviewed"


def test_reject_invalid_needs_feedback_and_rejects_only_unknown_codes(
    admin, reviewed, mturk_emulator
):
    slug = reviewed["slug"]
    missing = admin.post(f"/studies/{slug}/review", json={"dry_run": False, "reject_invalid": True})
    assert_error(missing, 422, "validation_error", "reject_feedback")
    response = admin.post(
        f"/studies/{slug}/review",
        json={
            "dry_run": False,
            "reject_invalid": True,
            "reject_feedback": "No valid code.",
            "rejection_category": "BAD_CODE",  # MTurk has no categories: not sent
        },
    )
    job = response.json()["job"]
    assert job["counts"]["approved"] == 1 and job["counts"]["rejected"] == 2
    assignments = mturk_emulator.state.assignments
    invented = assignments[reviewed["assignment"]["A1INVENTED001"]]
    assert invented.status == "Rejected" and invented.feedback == "No valid code."
    assert assignments[reviewed["assignment"]["A1BORROWER001"]].status == "Submitted"
    assert assignments[reviewed["assignment"]["A1TWICE000001"]].status == "Submitted"


def test_live_mode_is_refused_without_confirmation(admin, make_study, mturk_emulator):
    hit = mturk_emulator.seed_hit(assignments=1)
    study, _ = make_study(platform="mturk", mode="live", hit_ids=[hit.hit_id])
    refused = admin.post(f"/studies/{study['slug']}/review", json={"dry_run": False})
    assert_error(refused, 422, "confirmation_required", "confirm")
    wrong = admin.post(
        f"/studies/{study['slug']}/review", json={"dry_run": False, "confirm": "yes"}
    )
    assert_error(wrong, 422, "confirmation_required", "confirm")
    assert mturk_emulator.faults.calls["ApproveAssignment"] == 0
    dry = admin.post(f"/studies/{study['slug']}/review", json={})
    assert dry.status_code == 200
    confirmed = admin.post(
        f"/studies/{study['slug']}/review", json={"dry_run": False, "confirm": "live"}
    )
    assert confirmed.status_code == 202


@pytest.mark.parametrize("failure", ["500", "drop"])
def test_commit_then_fail_never_approves_twice(admin, reviewed, mturk_emulator, failure):
    slug = reviewed["slug"]
    mturk_emulator.faults.configure(commit_then_fail={"ApproveAssignment": failure})
    first = admin.post(f"/studies/{slug}/review", json={"dry_run": False}).json()["job"]
    mturk_emulator.faults.configure(commit_then_fail={})
    second = admin.post(f"/studies/{slug}/review", json={"dry_run": False}).json()["job"]
    good = mturk_emulator.state.assignments[reviewed["assignment"]["A1GOODWORKER1"]]
    assert good.status == "Approved"
    assert good.times_approved == 1
    # The answer was lost every time, yet the approval was seen and counted once.
    assert mturk_emulator.faults.injected[failure] >= 1
    assert first["state"] == "succeeded", first
    assert first["counts"]["approved"] == 1
    assert second["state"] == "succeeded" and second["counts"]["approved"] == 0


def test_review_refusals(admin, make_study):
    plain, _ = make_study(platform="mturk")
    assert_error(
        admin.post(f"/studies/{plain['slug']}/review", json={"dry_run": False}),
        409,
        "no_hit_ids",
        "hit_ids",
    )
    assert_error(
        admin.post(f"/studies/{plain['slug']}/review", json={"dry_run": "maybe"}),
        422,
        "validation_error",
        "dry_run",
    )
    assert_error(
        admin.post(f"/studies/{plain['slug']}/review?format=xml", json={}),
        422,
        "validation_error",
        "format",
    )
    long = "x" * 1025
    assert_error(
        admin.post(f"/studies/{plain['slug']}/review", json={"feedback": long}),
        422,
        "validation_error",
        "feedback",
    )
    assert_error(admin.post("/studies/nope/review", json={}), 404, "study_not_found")


def test_unclear_answer_after_every_retry_is_settled_by_looking(admin, reviewed, mturk_emulator):
    """Every attempt takes effect and loses its answer: crowdgate reads the assignment's
    state instead of guessing, and counts one approval."""
    slug = reviewed["slug"]
    mturk_emulator.faults.fail_next("ApproveAssignment", "drop", times=4)
    job = admin.post(f"/studies/{slug}/review", json={"dry_run": False}).json()["job"]
    assert mturk_emulator.faults.injected["drop"] == 4
    assert job["state"] == "succeeded", job
    assert job["counts"]["approved"] == 1
    good = mturk_emulator.state.assignments[reviewed["assignment"]["A1GOODWORKER1"]]
    assert good.times_approved == 1


def test_platform_down_during_apply_fails_the_job_and_a_retry_finishes(
    admin, reviewed, mturk_emulator
):
    slug = reviewed["slug"]
    mturk_emulator.faults.configure(error_rate=1.0)
    failed = admin.post(f"/studies/{slug}/review", json={"dry_run": False}).json()["job"]
    assert failed["state"] == "failed" and failed["error"].startswith("mturk")
    mturk_emulator.faults.configure(error_rate=0.0)
    done = admin.post(f"/studies/{slug}/review", json={"dry_run": False}).json()["job"]
    assert done["state"] == "succeeded" and done["counts"]["approved"] == 1
    good = mturk_emulator.state.assignments[reviewed["assignment"]["A1GOODWORKER1"]]
    assert good.times_approved == 1
