"""Sync through the API, against the MTurk emulator over real HTTP, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
from crowdgate.models import Participant, Study
from sqlalchemy import select

from tests.http import assert_error
from tests.mturk_fixtures import mturk_client


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 10,
    }


def mturk_study(make_study: Any, **fields: Any) -> tuple[dict[str, Any], Any]:
    return make_study(platform="mturk", mode="sandbox", **fields)


def sync(admin: Any, slug: str) -> dict[str, Any]:
    response = admin.post(f"/studies/{slug}/sync")
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{body['job_id']}")
    job = admin.get(f"/jobs/{body['job_id']}")
    assert job.status_code == 200
    assert job.json() == body["job"]
    return body["job"]


def rows(db: Any, slug: str) -> list[Participant]:
    with db.read() as session:
        return list(
            session.scalars(
                select(Participant)
                .join(Study, Study.id == Participant.study_id)
                .where(Study.slug == slug)
                .order_by(Participant.id)
            )
        )


def test_hit_ids_are_set_validated_and_replaced(admin, make_study):
    study, _ = mturk_study(make_study, hit_ids=["3PR3LXCWSF67WOX6Y5S8EXAMPLE1"])
    assert study["hit_ids"] == ["3PR3LXCWSF67WOX6Y5S8EXAMPLE1"]
    assert study["code_answer_field"] == "surveycode"
    assert study["exclusion_qualification_id"] is None
    updated = admin.patch(f"/studies/{study['slug']}", json={"hit_ids": ["HIT2", "HIT3"]})
    assert updated.json()["hit_ids"] == ["HIT2", "HIT3"]
    bad = admin.patch(f"/studies/{study['slug']}", json={"hit_ids": ["no spaces allowed"]})
    assert_error(bad, 422, "validation_error", "hit_ids.0")
    twice = admin.patch(f"/studies/{study['slug']}", json={"hit_ids": ["A1", "A1"]})
    assert_error(twice, 422, "validation_error", "hit_ids")
    field = admin.patch(f"/studies/{study['slug']}", json={"code_answer_field": "bad field!"})
    assert_error(field, 422, "validation_error", "code_answer_field")
    ro = admin.patch(f"/studies/{study['slug']}", json={"exclusion_qualification_id": "Q"})
    assert_error(ro, 422, "validation_error", "exclusion_qualification_id")


def test_1050_assignments_on_one_hit_none_lost_and_resync_changes_nothing(
    admin, make_study, mturk_emulator, db
):
    hit = mturk_emulator.seed_hit(assignments=1050)
    study, _ = mturk_study(make_study, hit_ids=[hit.hit_id])
    job = sync(admin, study["slug"])
    assert job["state"] == "succeeded", job
    assert job["kind"] == "sync" and job["study"] == study["slug"]
    assert job["total"] == job["done"] == 1050
    assert job["counts"]["added"] == 1050
    assert job["finished_at"] and job["started_at"]
    stored = rows(db, study["slug"])
    assert {p.assignment_id for p in stored} == set(hit.assignment_ids)
    first = stored[0]
    assert first.status == "submitted" and first.platform_status == "submitted"
    assert first.submitted_code == "CODE000000"
    assert first.answers == {"surveycode": "CODE000000"}
    assert first.submitted_at is not None and first.accepted_at is not None

    again = sync(admin, study["slug"])
    assert again["state"] == "succeeded"
    assert again["counts"] == {"added": 0, "updated": 0, "unchanged": 1050, "flagged": 0}
    assert len(rows(db, study["slug"])) == 1050


def test_started_workers_get_their_assignment_and_strangers_are_recorded(
    admin, make_study, mturk_emulator, db
):
    study, page = mturk_study(make_study, code_answer_field="code")
    slug = study["slug"]
    workers = ["A1STARTED0001", "A2STRANGER002"]
    started = page.post(f"/studies/{slug}/participants/{workers[0]}/start")
    assert started.status_code == 200, started.text
    done = page.post(f"/studies/{slug}/participants/{workers[0]}/complete")
    issued = done.json()["completion_code"]
    hit = mturk_emulator.seed_hit(
        assignments=2,
        workers=workers,
        answers=[{"code": issued}, {"code": " 1234567 ", "q1": "yes"}],
    )
    admin.patch(f"/studies/{slug}", json={"hit_ids": [hit.hit_id]})
    job = sync(admin, slug)
    assert job["counts"]["added"] == 1 and job["counts"]["updated"] == 1
    by_worker = {p.worker_id: p for p in rows(db, slug)}
    mine = by_worker[workers[0]]
    assert mine.assignment_id == hit.assignment_ids[0]
    assert mine.hit_id == hit.hit_id
    assert mine.status == "submitted" and mine.completion_code == issued
    assert mine.submitted_code == issued
    stranger = by_worker[workers[1]]
    assert stranger.status == "submitted" and stranger.completion_code is None
    assert stranger.submitted_code == " 1234567 "
    assert stranger.answers == {"code": " 1234567 ", "q1": "yes"}

    # Review on the platform, then sync: statuses follow; nothing is deleted when the
    # platform forgets the HIT.
    mturk_emulator.state.assignments[hit.assignment_ids[1]].status = "Rejected"
    later = sync(admin, slug)
    assert later["counts"]["updated"] == 1 and later["counts"]["unchanged"] == 1
    assert {p.worker_id: p.status for p in rows(db, slug)}[workers[1]] == "rejected"
    mturk_emulator.reset()
    mturk_emulator.seed_hit(assignments=0)
    forgotten = sync(admin, slug)
    assert forgotten["state"] == "failed"
    assert len(rows(db, slug)) == 2


def test_a_second_assignment_without_repeats_is_kept_and_flagged(
    admin, make_study, mturk_emulator, db
):
    hit = mturk_emulator.seed_hit(assignments=2, workers=["A3TWICE00001", "A3TWICE00001"])
    study, _ = mturk_study(make_study, hit_ids=[hit.hit_id])
    job = sync(admin, study["slug"])
    assert job["counts"]["added"] == 1 and job["counts"]["flagged"] == 1
    [only] = rows(db, study["slug"])
    assert [e["assignment_id"] for e in only.extra_submissions] == [hit.assignment_ids[1]]
    assert sync(admin, study["slug"])["counts"]["unchanged"] == 2

    repeats, _ = mturk_study(make_study, hit_ids=[hit.hit_id], allow_repeats=True)
    sync(admin, repeats["slug"])
    assert [p.attempt for p in rows(db, repeats["slug"])] == [1, 2]


def test_throttling_and_server_errors_are_retried_until_success(
    admin, make_study, mturk_emulator, db
):
    hits = mturk_emulator.seed_hits(3, assignments=150)
    study, _ = mturk_study(make_study, hit_ids=[h.hit_id for h in hits])
    mturk_emulator.faults.configure(throttle_rate=0.15, error_rate=0.15, seed=3)
    job = sync(admin, study["slug"])
    assert job["state"] == "succeeded", job
    assert job["counts"]["added"] == 450
    assert mturk_emulator.faults.injected["throttle"] > 0
    assert mturk_emulator.faults.injected["error"] > 0


def test_a_failing_platform_fails_the_job_with_a_clear_error(admin, make_study, mturk_emulator):
    hit = mturk_emulator.seed_hit(assignments=3)
    study, _ = mturk_study(make_study, hit_ids=[hit.hit_id])
    mturk_emulator.faults.configure(error_rate=1.0)
    failed = sync(admin, study["slug"])
    assert failed["state"] == "failed"
    assert failed["error"].startswith("mturk")
    assert failed["error_code"]
    assert failed["finished_at"]
    assert failed["counts"]["added"] == 0
    mturk_emulator.faults.configure(error_rate=0.0)
    assert sync(admin, study["slug"])["counts"]["added"] == 3


def test_what_was_synced_before_a_failure_stays_and_a_retry_completes(
    admin, make_study, mturk_emulator, db
):
    first = mturk_emulator.seed_hit(assignments=600)
    second = mturk_emulator.seed_hit(assignments=10)
    missing = "3NOSUCHHIT000000000000000000X1"
    study, _ = mturk_study(make_study, hit_ids=[first.hit_id, missing, second.hit_id])
    failed = sync(admin, study["slug"])
    assert failed["state"] == "failed"
    assert missing in failed["error"] or "RequestError" in failed["error"], failed
    assert failed["done"] == 600 and failed["counts"]["added"] == 600
    assert len(rows(db, study["slug"])) == 600

    admin.patch(f"/studies/{study['slug']}", json={"hit_ids": [first.hit_id, second.hit_id]})
    done = sync(admin, study["slug"])
    assert done["state"] == "succeeded"
    assert done["counts"] == {"added": 10, "updated": 0, "unchanged": 600, "flagged": 0}
    assert len(rows(db, study["slug"])) == 610


def test_sync_refusals(admin, make_study):
    no_hits, _ = mturk_study(make_study)
    assert_error(admin.post(f"/studies/{no_hits['slug']}/sync"), 409, "no_hit_ids", "hit_ids")
    none, _ = make_study(hit_ids=["H1"])
    assert_error(admin.post(f"/studies/{none['slug']}/sync"), 409, "not_supported_by_platform")
    assert_error(admin.post("/studies/nope/sync"), 404, "study_not_found")


def test_sync_grants_the_exclusion_qualification_quietly(admin, make_study, mturk_emulator, db):
    hit = mturk_emulator.seed_hit(assignments=5)
    study, _ = mturk_study(make_study, hit_ids=[hit.hit_id])
    boto = mturk_client(mturk_emulator.url)
    qual = boto.create_qualification_type(
        Name="took part", Description="x", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    boto.associate_qualification_with_worker(
        QualificationTypeId=qual, WorkerId=hit.worker_ids[0], IntegerValue=1, SendNotification=False
    )
    with db.write() as session:
        session.scalar(
            select(Study).where(Study.slug == study["slug"])
        ).exclusion_qualification_id = qual
    assert admin.get(f"/studies/{study['slug']}").json()["exclusion_qualification_id"] == qual
    job = sync(admin, study["slug"])
    assert job["counts"]["qualified"] == 4
    assert job["counts"]["already_qualified"] == 1
    granted = boto.list_workers_with_qualification_type(QualificationTypeId=qual)
    assert {q["WorkerId"] for q in granted["Qualifications"]} == set(hit.worker_ids)
    assert not mturk_emulator.state.messages
    assert sync(admin, study["slug"])["counts"]["qualified"] == 0
