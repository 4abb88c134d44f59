"""A study's HITs against the MTurk emulator over HTTP: cost previews, creation (one HIT
or micro-batches), balance, live-mode confirmation, retries, extend/expire and refusals."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.http import ApiClient, assert_error

URL = "https://survey.example.org/s"
APPROVAL_RATE = "000000000000000000L0"
LOCALE = "00000000000000000071"


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    # One attempt per MTurk call: a fault reaches crowdgate's caller instead of being
    # retried away inside botocore, so the tests see what a retry by the caller does.
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
    }


@pytest.fixture
def mturk_study(make_study: Any) -> Any:
    def make(**fields: Any) -> str:
        study, _ = make_study(platform="mturk", **fields)
        return str(study["slug"])

    return make


def hit_body(**fields: Any) -> dict[str, Any]:
    return {
        "title": "A 10-minute survey",
        "description": "Answer questions about your day.",
        "reward": "0.50",
        "assignments": 9,
        "survey_url": URL,
        **fields,
    }


def preview(admin: ApiClient, slug: str, **fields: Any) -> dict[str, Any]:
    response = admin.post(f"/studies/{slug}/hits", json=hit_body(**fields))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["dry_run"] is True
    return body


def create(admin: ApiClient, slug: str, **fields: Any) -> dict[str, Any]:
    response = admin.post(f"/studies/{slug}/hits", json=hit_body(dry_run=False, **fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["dry_run"] is False
    return body


def study_record(admin: ApiClient, slug: str) -> dict[str, Any]:
    response = admin.get(f"/studies/{slug}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# --- cost previews -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reward", "assignments", "single", "micro", "micro_hits"),
    [
        # 9 assignments: one HIT either way, 20%.
        ("0.50", 9, ("4.50", "0.90", "5.40"), ("4.50", "0.90", "5.40"), [9]),
        # 10: one HIT pays 40%; micro-batches of 9 and 1 pay 20%.
        ("0.50", 10, ("5.00", "2.00", "7.00"), ("5.00", "1.00", "6.00"), [9, 1]),
        ("0.50", 100, ("50.00", "20.00", "70.00"), ("50.00", "10.00", "60.00"), [9] * 11 + [1]),
        # Tiny rewards: the $0.01 minimum per assignment, whatever the rate.
        ("0.01", 9, ("0.09", "0.09", "0.18"), ("0.09", "0.09", "0.18"), [9]),
        ("0.01", 100, ("1.00", "1.00", "2.00"), ("1.00", "1.00", "2.00"), [9] * 11 + [1]),
        # 40% of $0.03 is 1.2 cents: rounded to a cent each.
        ("0.03", 10, ("0.30", "0.10", "0.40"), ("0.30", "0.10", "0.40"), [9, 1]),
        # 20% of $0.13 is 2.6 cents: rounded half-up.
        ("0.13", 9, ("1.17", "0.27", "1.44"), ("1.17", "0.27", "1.44"), [9]),
    ],
)
def test_preview_shows_both_totals_and_creates_nothing(
    admin: ApiClient,
    mturk_study: Any,
    mturk_emulator: MTurkEmulator,
    reward: str,
    assignments: int,
    single: tuple[str, str, str],
    micro: tuple[str, str, str],
    micro_hits: list[int],
) -> None:
    slug = mturk_study()
    for micro_batches in (False, True):
        plan = preview(
            admin, slug, reward=reward, assignments=assignments, micro_batches=micro_batches
        )
        got_single = plan["single"]
        assert (got_single["rewards"], got_single["fees"], got_single["total"]) == single
        assert got_single["hits"] == 1 and got_single["assignments"] == assignments
        got_micro = plan["micro"]
        assert (got_micro["rewards"], got_micro["fees"], got_micro["total"]) == micro
        assert got_micro["hits"] == len(micro_hits)
        chosen = micro_hits if micro_batches else [assignments]
        assert [h["assignments"] for h in plan["hits"]] == chosen
        assert [h["index"] for h in plan["hits"]] == list(range(len(chosen)))
        assert plan["total"] == (micro if micro_batches else single)[2]
        assert sum(Decimal(h["total"]) for h in plan["hits"]) == Decimal(plan["total"])
        assert Decimal(plan["saving"]) == Decimal(single[2]) - Decimal(micro[2])
        assert plan["balance"] == "10000.00" and plan["currency"] == "USD"
        assert plan["sufficient"] is True
    assert mturk_emulator.state.hits == {}
    assert mturk_emulator.faults.calls["CreateHIT"] == 0
    assert mturk_emulator.state.balance == Decimal("10000.00")


def test_preview_lists_requirements(admin: ApiClient, mturk_study: Any) -> None:
    plan = preview(
        admin,
        mturk_study(),
        min_approval_rate=95,
        locales=["US", "CA-QC"],
        exclude_qualification_type_ids=["3XQUALIFICATIONTYPE000000000000"],
    )
    assert plan["requirements"] == [
        {
            "qualification_type_id": APPROVAL_RATE,
            "comparator": "GreaterThanOrEqualTo",
            "integer_values": [95],
            "locale_values": [],
        },
        {
            "qualification_type_id": LOCALE,
            "comparator": "In",
            "integer_values": [],
            "locale_values": [{"Country": "US"}, {"Country": "CA", "Subdivision": "QC"}],
        },
        {
            "qualification_type_id": "3XQUALIFICATIONTYPE000000000000",
            "comparator": "DoesNotExist",
            "integer_values": [],
            "locale_values": [],
        },
    ]
    assert plan["survey_url"] == URL


# --- balance --------------------------------------------------------------------------


def test_insufficient_balance_is_shown_and_refused(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    slug = mturk_study()
    mturk_emulator.set_balance("5.99")
    plan = preview(admin, slug, reward="0.50", assignments=10, micro_batches=True)
    assert (plan["balance"], plan["total"], plan["sufficient"]) == ("5.99", "6.00", False)
    assert preview(admin, slug, reward="0.50", assignments=9)["sufficient"] is True

    response = admin.post(
        f"/studies/{slug}/hits",
        json=hit_body(reward="0.50", assignments=10, micro_batches=True, dry_run=False),
    )
    body = assert_error(response, 409, "insufficient_balance")
    assert (body["balance"], body["total"]) == ("5.99", "6.00")
    assert "Nothing was created" in body["message"]
    assert mturk_emulator.faults.calls["CreateHIT"] == 0
    # Not even the exclusion qualification: a refused request leaves no trace.
    assert mturk_emulator.state.qualification_types == {}
    assert study_record(admin, slug)["hit_ids"] == []
    assert study_record(admin, slug)["exclusion_qualification_id"] is None


# --- creation -------------------------------------------------------------------------


def test_create_one_hit(admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator) -> None:
    slug = mturk_study()
    body = create(
        admin,
        slug,
        reward="0.75",
        assignments=12,
        min_approval_rate=98,
        locales=["US"],
        keywords="survey, psychology",
        frame_height=800,
    )
    [made] = body["hits"]
    hit = mturk_emulator.state.hits[made["hit_id"]]
    assert (made["assignments"], made["rewards"], made["fees"], made["total"]) == (
        12,
        "9.00",
        "3.60",
        "12.60",
    )
    assert made["worker_url"] == (
        f"https://workersandbox.mturk.com/projects/{hit.hit_type_id}/tasks"
    )
    assert made["hit_type_id"] == hit.hit_type_id
    # The preview's number is what the platform took.
    assert mturk_emulator.state.balance == Decimal("10000.00") - Decimal(body["total"])
    assert (hit.max_assignments, hit.reward, hit.keywords) == (
        12,
        Decimal("0.75"),
        "survey, psychology",
    )
    assert URL in hit.question and "<FrameHeight>800</FrameHeight>" in hit.question
    by_type = {r["QualificationTypeId"]: r for r in hit.qualification_requirements}
    assert by_type[APPROVAL_RATE]["IntegerValues"] == [98]
    assert by_type[LOCALE]["LocaleValues"] == [{"Country": "US"}]
    assert study_record(admin, slug)["hit_ids"] == [made["hit_id"]]

    listed = admin.get(f"/studies/{slug}/hits")
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["hit_id"] == made["hit_id"]
    assert (item["assignments"], item["available"], item["completed"]) == (12, 12, 0)
    assert item["reward"] == "0.75" and item["problem"] is None


def test_live_study_creates_only_with_confirm(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    slug = mturk_study(mode="live")
    # Previews need no confirmation: they spend nothing.
    assert preview(admin, slug)["mode"] == "live"
    for confirm in (None, "yes", "LIVE"):
        extra = {} if confirm is None else {"confirm": confirm}
        response = admin.post(f"/studies/{slug}/hits", json=hit_body(dry_run=False, **extra))
        assert_error(response, 422, "confirmation_required", "confirm")
    assert mturk_emulator.faults.calls["CreateHIT"] == 0
    body = create(admin, slug, confirm="live")
    [made] = body["hits"]
    assert made["worker_url"].startswith("https://worker.mturk.com/projects/")


def test_micro_batches_exclude_each_other_through_one_qualification(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator, mturk: Any
) -> None:
    slug = mturk_study()
    earlier_study = mturk.create_qualification_type(
        Name="took part in the pilot", Description="pilot", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    body = create(
        admin,
        slug,
        assignments=20,
        micro_batches=True,
        exclude_qualification_type_ids=[earlier_study],
    )
    assert [h["assignments"] for h in body["hits"]] == [9, 9, 2]
    assert body["total"] == body["micro"]["total"] == "12.00"
    qualification = body["exclusion_qualification_id"]
    types = mturk_emulator.state.qualification_types
    assert [t.name for t in types.values()] == [
        "took part in the pilot",
        f"crowdgate {slug} participants",
    ]
    assert qualification in types
    hit_ids = [h["hit_id"] for h in body["hits"]]
    assert len(set(hit_ids)) == 3
    for hit_id in hit_ids:
        requirements = mturk_emulator.state.hits[hit_id].qualification_requirements
        does_not_exist = {
            r["QualificationTypeId"] for r in requirements if r["Comparator"] == "DoesNotExist"
        }
        assert does_not_exist == {qualification, earlier_study}
    record = study_record(admin, slug)
    assert record["hit_ids"] == hit_ids
    assert record["exclusion_qualification_id"] == qualification

    # A second wave reuses the qualification, and even a plain HIT excludes the study's workers.
    again = create(admin, slug, assignments=3, micro_batches=True, title="Wave 2")
    plain = create(admin, slug, assignments=3, title="Wave 3")
    assert len(mturk_emulator.state.qualification_types) == 2
    for made in again["hits"] + plain["hits"]:
        requirements = mturk_emulator.state.hits[made["hit_id"]].qualification_requirements
        assert {"QualificationTypeId": qualification, "Comparator": "DoesNotExist"} in [
            {k: r[k] for k in ("QualificationTypeId", "Comparator")} for r in requirements
        ]
    assert len(study_record(admin, slug)["hit_ids"]) == 5
    assert plain["exclusion_qualification_id"] == qualification


def test_micro_batches_find_the_qualification_by_name(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator, mturk: Any
) -> None:
    slug = mturk_study()
    # Made before (by an earlier attempt whose answer was lost, say): found, not duplicated.
    existing = mturk.create_qualification_type(
        Name=f"crowdgate {slug} participants",
        Description="made earlier",
        QualificationTypeStatus="Active",
    )["QualificationType"]["QualificationTypeId"]
    mturk.create_qualification_type(
        Name=f"crowdgate {slug} participants (old)",
        Description="a near miss",
        QualificationTypeStatus="Active",
    )
    made_before = mturk_emulator.faults.calls["CreateQualificationType"]
    body = create(admin, slug, assignments=10, micro_batches=True)
    assert body["exclusion_qualification_id"] == existing
    assert len(mturk_emulator.state.qualification_types) == 2
    assert mturk_emulator.faults.calls["CreateQualificationType"] == made_before


def post_until_created(
    admin: ApiClient, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """POST as a careful caller does: the same request again after each 503."""
    failures: list[dict[str, Any]] = []
    for _ in range(6):
        response = admin.post(path, json=body, headers=headers or {})
        if response.status_code == 201:
            return response.json(), failures
        failures.append(assert_error(response, 503, "platform_unavailable"))
    raise AssertionError(f"never created: {failures}")


@pytest.mark.parametrize("fault", ["drop", "500"])
def test_retry_after_commit_then_fail_creates_no_second_hit(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator, fault: str
) -> None:
    slug = mturk_study()
    body = hit_body(assignments=20, micro_batches=True, dry_run=False)
    mturk_emulator.faults.fail_next("CreateHIT", "error")  # a 500 before anything is made
    first = admin.post(f"/studies/{slug}/hits", json=body)
    if first.status_code != 201:  # botocore may have retried it away itself
        assert assert_error(first, 503, "platform_unavailable")["created_hit_ids"] == []
        assert mturk_emulator.state.hits == {}

    # Every CreateHIT takes effect and then its answer is lost: each batch is still
    # made once, whether botocore's retry or the caller's finds it by its token.
    mturk_emulator.reset(balance="10000.00")
    mturk_emulator.faults.configure(commit_then_fail={"CreateHIT": fault})
    slug = mturk_study()
    created, failures = post_until_created(admin, f"/studies/{slug}/hits", body)
    hit_ids = [h["hit_id"] for h in created["hits"]]
    assert len(hit_ids) == 3 and set(mturk_emulator.state.hits) == set(hit_ids)
    assert mturk_emulator.faults.committed["CreateHIT"] == 3
    # What a failed attempt reports made is what the study records; nothing twice.
    for failure in failures:
        assert set(failure["created_hit_ids"]) <= set(hit_ids)
    assert study_record(admin, slug)["hit_ids"] == hit_ids
    assert mturk_emulator.state.balance == Decimal("10000.00") - Decimal("12.00")
    assert len(mturk_emulator.state.qualification_types) == 1

    # Once more: nothing new, the same HITs.
    mturk_emulator.faults.configure(commit_then_fail={})
    again = admin.post(f"/studies/{slug}/hits", json=body)
    assert [h["hit_id"] for h in again.json()["hits"]] == hit_ids
    assert len(mturk_emulator.state.hits) == 3
    assert study_record(admin, slug)["hit_ids"] == hit_ids


def test_retry_with_idempotency_key_after_failure_midway(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    slug = mturk_study()
    key = str(uuid.uuid4())
    body = hit_body(assignments=12, micro_batches=True, dry_run=False)
    mturk_emulator.faults.configure(commit_then_fail={"CreateHIT": "500"})
    created, _ = post_until_created(
        admin, f"/studies/{slug}/hits", body, headers={"Idempotency-Key": key}
    )
    assert [h["assignments"] for h in created["hits"]] == [9, 3]
    assert len(mturk_emulator.state.hits) == 2
    mturk_emulator.faults.configure(commit_then_fail={})

    # The same key again: the stored answer, not a second set.
    replay = admin.post(f"/studies/{slug}/hits", json=body, headers={"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.json() == created
    # A different key is a new request: a second set of HITs, on purpose.
    other = admin.post(
        f"/studies/{slug}/hits", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert other.status_code == 201, other.text
    assert len(mturk_emulator.state.hits) == 4


def test_request_key_tells_new_waves_from_retries(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    slug = mturk_study()
    first = create(admin, slug, request_key="wave-1")
    same = create(admin, slug, request_key="wave-1")
    second = create(admin, slug, request_key="wave-2")
    assert first["hits"][0]["hit_id"] == same["hits"][0]["hit_id"]
    assert second["hits"][0]["hit_id"] != first["hits"][0]["hit_id"]
    assert len(mturk_emulator.state.hits) == 2
    assert len(study_record(admin, slug)["hit_ids"]) == 2


# --- extend, expire, list ---------------------------------------------------------------


def test_extend_and_expire(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    slug = mturk_study()
    [made] = create(admin, slug, assignments=10)["hits"]
    hit_id = made["hit_id"]
    later = (datetime.now().astimezone() + timedelta(days=20)).replace(microsecond=0)

    response = admin.post(
        f"/studies/{slug}/hits/{hit_id}/extend",
        json={"add_assignments": 5, "expires_at": later.isoformat()},
    )
    assert response.status_code == 200, response.text
    extended = response.json()
    assert (extended["assignments"], extended["available"]) == (15, 15)
    assert datetime.fromisoformat(extended["expires_at"]) == later
    assert mturk_emulator.state.hits[hit_id].max_assignments == 15

    response = admin.post(f"/studies/{slug}/hits/{hit_id}/expire")
    assert response.status_code == 200, response.text
    expired = response.json()
    assert expired["status"] == "reviewable"
    assert datetime.fromisoformat(expired["expires_at"]) <= datetime.now().astimezone()

    [listed] = admin.get(f"/studies/{slug}/hits").json()["items"]
    assert listed["status"] == "reviewable" and listed["assignments"] == 15


def test_extend_refusals(admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator) -> None:
    slug = mturk_study()
    [made] = create(admin, slug, assignments=5)["hits"]
    path = f"/studies/{slug}/hits/{made['hit_id']}/extend"
    assert_error(admin.post(path, json={}), 422, "validation_error", "add_assignments")
    assert_error(
        admin.post(path, json={"add_assignments": -1}), 422, "validation_error", "add_assignments"
    )
    past = (datetime.now().astimezone() - timedelta(hours=1)).isoformat()
    assert_error(admin.post(path, json={"expires_at": past}), 422, "validation_error", "expires_at")
    assert_error(
        admin.post(path, json={"expires_at": "2030-01-01T00:00:00"}),
        422,
        "validation_error",
        "expires_at",
    )
    # MTurk's own rule: a HIT of fewer than 10 cannot grow to 10 or more. Its code is kept.
    response = admin.post(path, json={"add_assignments": 5})
    body = assert_error(response, 422, "platform_rejected")
    assert body["platform_code"] == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    assert mturk_emulator.state.hits[made["hit_id"]].max_assignments == 5

    live = mturk_study(mode="live")
    [live_hit] = create(admin, live, assignments=5, confirm="live")["hits"]
    live_path = f"/studies/{live}/hits/{live_hit['hit_id']}/extend"
    assert_error(
        admin.post(live_path, json={"add_assignments": 2}), 422, "confirmation_required", "confirm"
    )
    assert mturk_emulator.state.hits[live_hit["hit_id"]].max_assignments == 5
    ok = admin.post(live_path, json={"add_assignments": 2, "confirm": "live"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["assignments"] == 7


def test_hit_of_another_study_is_refused(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    mine, other = mturk_study(), mturk_study()
    [made] = create(admin, mine, assignments=5)["hits"]
    before = mturk_emulator.state.hits[made["hit_id"]].expires_at
    for action, body in (("extend", {"add_assignments": 1}), ("expire", None)):
        response = admin.post(f"/studies/{other}/hits/{made['hit_id']}/{action}", json=body)
        assert_error(response, 404, "hit_not_found", "hit_id")
    hit = mturk_emulator.state.hits[made["hit_id"]]
    assert (hit.max_assignments, hit.expires_at) == (5, before)
    assert mturk_emulator.faults.calls["UpdateExpirationForHIT"] == 0
    assert admin.get(f"/studies/{other}/hits").json() == {"items": []}


def test_list_reports_hits_the_platform_forgot(
    admin: ApiClient, mturk_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    slug = mturk_study()
    seeded = mturk_emulator.seed_hit(assignments=3, max_assignments=5)
    response = admin.patch(f"/studies/{slug}", json={"hit_ids": [seeded.hit_id, "3XGONE0000"]})
    assert response.status_code == 200, response.text
    items = admin.get(f"/studies/{slug}/hits").json()["items"]
    assert [i["hit_id"] for i in items] == [seeded.hit_id, "3XGONE0000"]
    assert (items[0]["assignments"], items[0]["available"]) == (5, 2)
    assert items[1]["status"] is None and items[1]["problem"]


# --- refusals -----------------------------------------------------------------------


def test_study_without_platform_is_refused_clearly(admin: ApiClient, make_study: Any) -> None:
    study, _ = make_study(platform="none")
    slug = study["slug"]
    for body in (hit_body(), hit_body(dry_run=False)):
        response = admin.post(f"/studies/{slug}/hits", json=body)
        error = assert_error(response, 409, "not_supported_by_platform")
        assert "'none'" in error["message"]
    assert_error(admin.get(f"/studies/{slug}/hits"), 409, "not_supported_by_platform")


def test_unknown_study_and_keys(admin: ApiClient, make_study: Any, anonymous: ApiClient) -> None:
    assert_error(admin.post("/studies/nope/hits", json=hit_body()), 404, "study_not_found")
    study, survey = make_study(platform="mturk")
    assert_error(
        anonymous.post(f"/studies/{study['slug']}/hits", json=hit_body()), 401, "missing_key"
    )
    response = survey.post(f"/studies/{study['slug']}/hits", json=hit_body())
    assert_error(response, 403, "admin_key_required")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reward": 0.5}, "reward"),
        ({"reward": "0.5x"}, "reward"),
        ({"reward": "1.234"}, "reward"),
        ({"reward": "-1.00"}, "reward"),
        ({"reward": "0.00"}, "reward"),
        ({"assignments": 0}, "assignments"),
        ({"assignments": "9"}, "assignments"),
        ({"survey_url": "http://survey.example.org/s"}, "survey_url"),
        ({"survey_url": "not a url"}, "survey_url"),
        ({"survey_url": None}, "survey_url"),
        ({"title": ""}, "title"),
        ({"title": "x" * 129}, "title"),
        ({"description": None}, "description"),
        ({"min_approval_rate": 101}, "min_approval_rate"),
        ({"locales": ["usa"]}, "locales.0"),
        ({"locales": ["US", "US"]}, "locales"),
        ({"exclude_qualification_type_ids": ["bad id!"]}, "exclude_qualification_type_ids.0"),
        ({"lifetime_seconds": 10}, "lifetime_seconds"),
        ({"assignment_duration_seconds": 10}, "assignment_duration_seconds"),
        ({"auto_approval_delay_seconds": -1}, "auto_approval_delay_seconds"),
        ({"frame_height": -1}, "frame_height"),
        ({"micro_batches": "maybe"}, "micro_batches"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_inputs_name_the_field(
    admin: ApiClient,
    mturk_study: Any,
    mturk_emulator: MTurkEmulator,
    fields: dict[str, Any],
    field: str,
) -> None:
    body = hit_body(**fields)
    if fields.get("survey_url", "") is None:
        del body["survey_url"]
    response = admin.post(f"/studies/{mturk_study()}/hits", json=body)
    assert_error(response, 422, "validation_error", field)
    assert mturk_emulator.faults.calls["CreateHIT"] == 0
