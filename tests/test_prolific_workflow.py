"""A Prolific study through crowdgate's API, against the Prolific emulator over HTTP, on
both databases: sync pulls a study's submissions into the record, review approves only
the participants crowdgate saw finish, and an exclusion group syncs to a participant
group."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from crowdgate.models import ExclusionGroup, Participant, Study
from crowdgate.platforms import PlatformSettings, get_platform
from crowdgate.testing import ProlificEmulator
from sqlalchemy import select

from tests.http import ApiClient, assert_error
from tests.prolific_fixtures import prolific_settings

PEOPLE = [f"{n:024x}" for n in range(0xA1, 0xA8)]
LONG_FEEDBACK = (
    "Thank you for taking part. The code you entered was not one this study gave out, so we "
    "cannot accept this submission."
)


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_env: ProlificEmulator) -> dict[str, Any]:
    return {
        **app_config,
        **prolific_settings(prolific_env, max_attempts=4),
    }


def run_job(admin: ApiClient, path: str, **body: Any) -> dict[str, Any]:
    response = admin.post(path, json=body)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def records(db: Any, slug: str) -> dict[str, Participant]:
    with db.read() as session:
        found = session.scalars(
            select(Participant)
            .join(Study, Study.id == Participant.study_id)
            .where(Study.slug == slug)
            .order_by(Participant.id)
        )
        return {p.worker_id: p for p in found}


def finish(page: ApiClient, slug: str, worker: str) -> str:
    started = page.post(f"/studies/{slug}/participants/{worker}/start")
    assert started.status_code == 200, started.text
    done = page.post(f"/studies/{slug}/participants/{worker}/complete")
    assert done.status_code == 200, done.text
    return str(done.json()["completion_code"])


def test_sync_then_review_approves_only_recorded_completions(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator, db: Any
) -> None:
    study, page = make_study(platform="prolific", mode="sandbox", code_answer_field="study_code")
    slug = study["slug"]
    codes = {worker: finish(page, slug, worker) for worker in PEOPLE[:2]}
    # PEOPLE[2] never started here and types the first participant's code; PEOPLE[3]
    # types a code nobody was given; PEOPLE[4] returned the study; PEOPLE[5] is still
    # doing it.
    seeded = prolific_emulator.seed_study(
        places=6,
        participants=PEOPLE[:6],
        statuses=["AWAITING REVIEW"] * 4 + ["RETURNED", "ACTIVE"],
        study_codes=[codes[PEOPLE[0]], f" {codes[PEOPLE[1]]} ", codes[PEOPLE[0]], "C1ABCD"]
        + [None, None],
    )
    assert admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.study_id]}).status_code == 200

    synced = run_job(admin, f"/studies/{slug}/sync")
    assert synced["state"] == "succeeded", synced
    assert synced["job"]["counts"]["updated"] == 2 and synced["job"]["counts"]["added"] == 3
    found = records(db, slug)
    assert sorted(found) == sorted(PEOPLE[:5])  # the participant still at work is not yet
    mine = found[PEOPLE[0]]
    assert mine.assignment_id == seeded.submission_ids[0] and mine.hit_id == seeded.study_id
    assert mine.submitted_code == codes[PEOPLE[0]] and mine.status == "submitted"
    assert found[PEOPLE[3]].answers == {"study_code": "C1ABCD"}
    assert found[PEOPLE[4]].status == "returned"

    response = admin.post(f"/studies/{slug}/review", json={})
    assert response.status_code == 200, response.text
    plan = {item["worker_id"]: item for item in response.json()["items"]}
    assert {w: plan[w]["action"] for w in plan} == {
        PEOPLE[0]: "approve",
        PEOPLE[1]: "approve",
        PEOPLE[2]: "flag",
        PEOPLE[3]: "reject",
    }
    assert plan[PEOPLE[2]]["reason"] == "code_of_another_worker"

    applied = run_job(admin, f"/studies/{slug}/review", dry_run=False, feedback="Thanks!")
    assert applied["state"] == "succeeded", applied
    assert applied["job"]["counts"]["approved"] == 2
    on_prolific = {s.participant_id: s for s in prolific_emulator.state.submissions.values()}
    assert [p for p in PEOPLE[:6] if on_prolific[p].status == "APPROVED"] == PEOPLE[:2]
    assert all(on_prolific[p].times_approved == 1 for p in PEOPLE[:2])
    assert on_prolific[PEOPLE[3]].status == "AWAITING REVIEW"  # rejecting was not asked
    assert records(db, slug)[PEOPLE[0]].status == "approved"

    # Rejecting what nobody was given, with Prolific's long message and category.
    rejected = run_job(
        admin,
        f"/studies/{slug}/review",
        dry_run=False,
        reject_invalid=True,
        reject_feedback=LONG_FEEDBACK,
    )
    assert rejected["state"] == "succeeded", rejected
    assert rejected["job"]["counts"]["rejected"] == 1
    assert on_prolific[PEOPLE[3]].status == "REJECTED"
    assert on_prolific[PEOPLE[3]].rejection_category == "OTHER"
    assert on_prolific[PEOPLE[2]].status == "AWAITING REVIEW"  # flagged: never touched
    # The two approvals went in one bulk approve, the rejection on its own.
    calls = prolific_emulator.faults.calls
    assert (calls["BulkApprove"], calls["TransitionSubmission"]) == (1, 1)

    again = run_job(admin, f"/studies/{slug}/sync")
    assert again["state"] == "succeeded", again
    assert again["job"]["counts"]["added"] == 0
    after = {w: p.status for w, p in records(db, slug).items()}
    assert after == {
        PEOPLE[0]: "approved",
        PEOPLE[1]: "approved",
        PEOPLE[2]: "submitted",
        PEOPLE[3]: "rejected",
        PEOPLE[4]: "returned",
    }


def test_the_studys_own_code_is_approved_only_for_recorded_completions(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    study, page = make_study(platform="prolific", mode="sandbox", platform_completion_code="C1ABCD")
    slug = study["slug"]
    finish(page, slug, PEOPLE[0])
    # Both enter the study's public code; only the first did the study through crowdgate.
    seeded = prolific_emulator.seed_study(
        places=2, participants=PEOPLE[:2], study_codes="C1ABCD", completion_code="C1ABCD"
    )
    admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.study_id]})
    run_job(admin, f"/studies/{slug}/sync")
    response = admin.post(f"/studies/{slug}/review", json={})
    plan = {item["worker_id"]: item["action"] for item in response.json()["items"]}
    assert plan[PEOPLE[0]] == "approve"
    assert plan[PEOPLE[1]] != "approve"


def test_sync_learns_the_studys_completion_code_when_none_is_set(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    study, page = make_study(platform="prolific", mode="sandbox")
    slug = study["slug"]
    assert study["platform_completion_code"] is None
    finish(page, slug, PEOPLE[0])
    seeded = prolific_emulator.seed_study(
        places=2, participants=PEOPLE[:2], study_codes="C9LEARN", completion_code="C9LEARN"
    )
    admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.study_id]})
    synced = run_job(admin, f"/studies/{slug}/sync")
    assert synced["job"]["result"]["platform_completion_code"] == "C9LEARN", synced
    assert admin.get(f"/studies/{slug}").json()["platform_completion_code"] == "C9LEARN"
    # The code everyone types on Prolific is now known: valid for the recorded one only.
    response = admin.post(f"/studies/{slug}/review", json={})
    plan = {item["worker_id"]: item["reason"] for item in response.json()["items"]}
    assert plan == {PEOPLE[0]: "study_code_valid", PEOPLE[1]: "completion_not_recorded"}
    # And /complete sends the next participant back to Prolific with it.
    page.post(f"/studies/{slug}/participants/{PEOPLE[2]}/start")
    done = page.post(f"/studies/{slug}/participants/{PEOPLE[2]}/complete").json()
    assert done["redirect_url"].endswith("cc=C9LEARN"), done

    # A code the researcher set is theirs: sync leaves it.
    admin.patch(f"/studies/{slug}", json={"platform_completion_code": "C1MINE"})
    synced = run_job(admin, f"/studies/{slug}/sync")
    assert "platform_completion_code" not in synced["job"]["result"], synced
    assert admin.get(f"/studies/{slug}").json()["platform_completion_code"] == "C1MINE"


def test_a_prolific_failure_fails_the_sync_with_prolifics_words(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    missing = "e" * 24
    study, _ = make_study(platform="prolific", mode="live", hit_ids=[missing])
    job = run_job(admin, f"/studies/{study['slug']}/sync")
    assert job["state"] == "failed", job
    assert f"Study {missing} not found." in str(job["job"])
    assert prolific_emulator.token not in str(job)


def test_balance_through_the_api(admin: ApiClient, prolific_emulator: ProlificEmulator) -> None:
    prolific_emulator.set_balance("250.75")
    response = admin.get("/account/balance", params={"platform": "prolific", "mode": "live"})
    assert response.status_code == 200, response.text
    assert Decimal(str(response.json()["balance"])) == Decimal("250.75")


def test_a_missing_token_is_a_clear_error(
    app: Any, admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    app.config["CROWDGATE_PROLIFIC_TOKEN"] = None
    study, _ = make_study(platform="prolific", hit_ids=[prolific_emulator.seed_study().study_id])
    body = assert_error(
        admin.post(f"/studies/{study['slug']}/review", json={"dry_run": False}),
        502,
        "platform_credentials_missing",
    )
    assert "CROWDGATE_PROLIFIC_TOKEN" in body["message"]


def bind_to_participant_group(db: Any, name: str, group_id: str, group_name: str) -> None:
    """Bind the group as PUT /exclusions/{name} does for an MTurk qualification; the PUT
    body has no field for a Prolific participant group yet."""
    with db.write() as session:
        group = session.scalar(select(ExclusionGroup).where(ExclusionGroup.name == name))
        assert group is not None
        group.binding_platform = "prolific"
        group.binding_mode = "live"
        group.binding_ref = group_id
        group.binding_name = group_name


def test_an_exclusion_group_syncs_to_a_participant_group(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Any
) -> None:
    client = get_platform("prolific").connect(
        "live",
        PlatformSettings(
            endpoint_url=prolific_emulator.api_url,
            options={
                "token": prolific_emulator.token,
                "workspace_id": prolific_emulator.workspace_id,
            },
        ),
    )
    try:
        made = client.create_qualification_type("deception-record", "Saw a deception study")
        client.grant_qualification(made.id, PEOPLE[6])  # in the group, not in the record
    finally:
        client.close()
    seeded = prolific_emulator.seed_study(places=3, participants=PEOPLE[:3])

    response = admin.put("/exclusions/deception", json={"description": "Saw deception"})
    assert response.status_code == 201, response.text
    bind_to_participant_group(db, "deception", made.id, made.name)
    response = admin.post(
        "/exclusions/deception/members",
        json={
            "add_hit_ids": [seeded.study_id],
            "add_worker_ids": [PEOPLE[4], "AMTURKWORKER1"],
            "platform": "prolific",
            "mode": "live",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["members"] == 5

    response = admin.post("/exclusions/deception/sync", json={})
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["platform"] == "prolific" and plan["qualification_type_id"] == made.id
    assert (plan["to_grant"], plan["holders"], plan["foreign_ids"]) == (4, 1, 1)
    assert plan["left_alone"] == 1

    confirm = {"dry_run": False, "confirm": "live"}
    started = run_job(admin, "/exclusions/deception/sync", **confirm)
    assert started["state"] == "succeeded", started
    assert started["job"]["counts"]["granted"] == 4
    members = prolific_emulator.state.groups[made.id].members
    assert sorted(members) == sorted([*PEOPLE[:3], PEOPLE[4], PEOPLE[6]])
    adds = prolific_emulator.faults.calls["AddGroupParticipants"]

    again = run_job(admin, "/exclusions/deception/sync", **confirm)
    assert again["job"]["total"] == 0
    assert prolific_emulator.faults.calls["AddGroupParticipants"] == adds

    revoked = run_job(admin, "/exclusions/deception/sync", revoke=True, **confirm)
    assert revoked["job"]["counts"]["revoked"] == 1
    assert sorted(prolific_emulator.state.groups[made.id].members) == sorted(
        [*PEOPLE[:3], PEOPLE[4]]
    )


def test_a_short_rejection_message_is_refused_before_any_review(
    admin: ApiClient, make_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    study, _ = make_study(platform="prolific", hit_ids=[seeded.study_id])
    body = {"dry_run": False, "reject_invalid": True, "reject_feedback": "Wrong code."}
    assert_error(
        admin.post(f"/studies/{study['slug']}/review", json=body),
        422,
        "validation_error",
        "reject_feedback",
    )
    assert prolific_emulator.faults.calls["TransitionSubmission"] == 0
