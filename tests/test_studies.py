"""Admin endpoints: studies (create, read, list, update) and a study's participants
(list, detail, CSV export)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from crowdgate.domain import participants, studies

from tests.http import ApiClient, assert_error

DEFAULTS = {
    "title": "",
    "platform": "none",
    "mode": "sandbox",
    "conditions": [],
    "lease_minutes": 60,
    "allow_repeats": False,
    "allowed_origins": [],
}

EXPORT_HEADER = [
    "worker_id",
    "attempt",
    "assignment_id",
    "hit_id",
    "session_id",
    "condition",
    "status",
    "completion_code",
    "started_at",
    "completed_at",
    "lease_expires_at",
    "updated_at",
    "state",
    "platform_status",
    "submitted_code",
    "submitted_at",
    "reviewed_at",
    "answers",
]


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def follow_pages(client: ApiClient, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a list, following next_cursor until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "next_cursor never became null"


def export(admin: ApiClient, slug: str, **params: Any) -> tuple[Any, list[dict[str, str]]]:
    response = admin.get(f"/studies/{slug}/participants.csv", params=params)
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert rows[0] == EXPORT_HEADER
    assert all(len(row) == len(EXPORT_HEADER) for row in rows)
    return response, [dict(zip(EXPORT_HEADER, row, strict=True)) for row in rows[1:]]


# --- creating and reading studies ----------------------------------------------------------


def test_create_returns_the_survey_key_and_the_defaults(admin, clock):
    response = admin.post("/studies", json={"slug": "defaults"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert {k: created[k] for k in DEFAULTS} == DEFAULTS
    assert created["slug"] == "defaults"
    assert at(created["created_at"]) == at(created["updated_at"]) == clock.now
    assert isinstance(created["survey_key"], str) and len(created["survey_key"]) >= 20

    # The key is real: a page can start a participant with it.
    with ApiClient(admin.base_url, survey_key=created["survey_key"]) as page:
        started = page.post("/studies/defaults/participants/w-1/start")
    assert started.status_code == 200, started.text
    assert at(started.json()["lease_expires_at"]) == clock.now + timedelta(minutes=60)


def test_create_keeps_every_field_given(admin):
    fields = {
        "slug": "everything-set",
        "title": "Reaction times, wave 2",
        "platform": "prolific",
        "mode": "live",
        "conditions": [{"name": "control", "target": 40}, {"name": "treated", "target": 60}],
        "lease_minutes": 45,
        "allow_repeats": True,
        "allowed_origins": ["https://survey.example.org", "http://localhost:8000"],
    }
    created = admin.post("/studies", json=fields).json()
    read = admin.get("/studies/everything-set").json()
    for name, value in fields.items():
        assert created[name] == value, name
        assert read[name] == value, name


class TestDefaultLeaseSetting:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "CROWDGATE_DEFAULT_LEASE_MINUTES": 15}

    def test_a_study_without_a_lease_takes_the_configured_default(self, admin):
        assert admin.post("/studies", json={"slug": "short"}).json()["lease_minutes"] == 15
        given = admin.post("/studies", json={"slug": "given", "lease_minutes": 90}).json()
        assert given["lease_minutes"] == 90


def test_read_and_list_never_return_the_survey_key(admin, make_study):
    study, _ = make_study(title="secretive")
    read = admin.get(f"/studies/{study['slug']}")
    assert read.status_code == 200
    assert "survey_key" not in read.json()
    assert study["survey_key"] not in read.text
    assert {k: v for k, v in study.items() if k != "survey_key"} == read.json()

    listed = admin.get("/studies")
    assert all("survey_key" not in item for item in listed.json()["items"])
    assert study["survey_key"] not in listed.text


def test_list_pages_through_every_study_once_in_order(admin, make_study):
    made = [make_study(title=f"study number {i}")[0]["slug"] for i in range(7)]

    pages = follow_pages(admin, "/studies", limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [item["slug"] for page in pages for item in page] == made

    everything = admin.get("/studies").json()
    assert [item["slug"] for item in everything["items"]] == made
    assert everything["next_cursor"] is None


def test_list_ending_on_a_full_page_still_ends(admin, make_study):
    made = [make_study()[0]["slug"] for _ in range(6)]
    pages = follow_pages(admin, "/studies", limit=3)
    assert [item["slug"] for page in pages for item in page] == made
    assert all(len(page) <= 3 for page in pages)


def test_list_of_no_studies_is_one_empty_page(admin):
    assert admin.get("/studies").json() == {"items": [], "next_cursor": None}


# --- updating studies ----------------------------------------------------------------------


def test_patch_updates_each_field_and_advances_updated_at(admin, make_study, clock):
    study, _ = make_study(title="before", conditions=[{"name": "a", "target": 5}])
    slug = study["slug"]
    created_at = at(study["created_at"])

    changes: list[dict[str, Any]] = [
        {"title": "after"},
        {"mode": "live"},
        {"conditions": [{"name": "a", "target": 8}, {"name": "b", "target": 8}]},
        {"lease_minutes": 20},
        {"allow_repeats": True},
        {"allowed_origins": ["https://survey.example.org"]},
    ]
    for change in changes:
        moved_to = clock.advance(minutes=3)
        response = admin.patch(f"/studies/{slug}", json=change)
        assert response.status_code == 200, response.text
        updated = response.json()
        (name, value), *_ = change.items()
        assert updated[name] == value
        assert at(updated["updated_at"]) == moved_to
        assert at(updated["created_at"]) == created_at
        assert admin.get(f"/studies/{slug}").json() == updated

    final = admin.get(f"/studies/{slug}").json()
    assert final["title"] == "after" and final["mode"] == "live"
    assert final["lease_minutes"] == 20 and final["allow_repeats"] is True
    assert final["platform"] == "none"


def test_patch_of_several_fields_at_once(admin, make_study, clock):
    study, _ = make_study()
    moved_to = clock.advance(hours=1)
    change = {"title": "both", "lease_minutes": 5, "allowed_origins": ["*"]}
    updated = admin.patch(f"/studies/{study['slug']}", json=change).json()
    assert {k: updated[k] for k in change} == change
    assert at(updated["updated_at"]) == moved_to


def test_patched_settings_take_effect_for_pages(admin, make_study, clock):
    study, page = make_study()
    slug = study["slug"]
    origin = {"Origin": "https://survey.example.org"}
    refused = page.post(f"/studies/{slug}/participants/w-1/start", headers=origin)
    assert_error(refused, 403, "origin_not_allowed")

    admin.patch(
        f"/studies/{slug}",
        json={"lease_minutes": 7, "allowed_origins": ["https://survey.example.org"]},
    )
    started = page.post(f"/studies/{slug}/participants/w-1/start", headers=origin)
    assert started.status_code == 200, started.text
    assert started.headers["Access-Control-Allow-Origin"] == "https://survey.example.org"
    assert at(started.json()["lease_expires_at"]) == clock.now + timedelta(minutes=7)


def test_patch_allow_repeats_lets_a_worker_take_a_new_assignment(admin, make_study):
    study, page = make_study()
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start", json={"assignment_id": "asg-1"})
    page.post(f"{base}/complete")
    refused = page.post(f"{base}/start", json={"assignment_id": "asg-2"})
    assert_error(refused, 409, "already_participated")

    admin.patch(f"/studies/{study['slug']}", json={"allow_repeats": True})
    again = page.post(f"{base}/start", json={"assignment_id": "asg-2"})
    assert again.status_code == 200, again.text
    assert again.json()["attempt"] == 2


def test_patch_platform_before_any_participant_is_allowed(admin, make_study):
    study, page = make_study(platform="none")
    slug = study["slug"]
    updated = admin.patch(f"/studies/{slug}", json={"platform": "mturk"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["platform"] == "mturk"
    # Worker ids are now checked against MTurk's format.
    refused = page.post(f"/studies/{slug}/participants/lab-007/start")
    assert_error(refused, 422, "invalid_worker_id", field="worker_id")
    assert page.post(f"/studies/{slug}/participants/A1B2C3D4E5/start").status_code == 200


def test_patch_platform_after_a_participant_started_is_409(admin, make_study, clock):
    study, page = make_study(platform="none", title="kept")
    slug = study["slug"]
    assert page.post(f"/studies/{slug}/participants/lab-007/start").status_code == 200
    before = admin.get(f"/studies/{slug}").json()
    clock.advance(minutes=1)

    response = admin.patch(f"/studies/{slug}", json={"platform": "prolific", "title": "lost"})
    assert_error(response, 409, "study_has_participants", field="platform")
    assert admin.get(f"/studies/{slug}").json() == before

    # Naming the platform it already has is no change, so it is allowed.
    same = admin.patch(f"/studies/{slug}", json={"platform": "none", "title": "renamed"})
    assert same.status_code == 200, same.text
    assert same.json()["title"] == "renamed"


def _study_with_held_conditions(
    admin: ApiClient, make_study: Any
) -> tuple[dict[str, Any], ApiClient]:
    """A study whose condition 'a' is held by w-1 and 'b' by w-2, with 'spare' unheld.

    Conditions are steered, not drawn: 'b' is added only after w-1 holds 'a'.
    """
    study, page = make_study(conditions=[{"name": "a", "target": 10}])
    slug = study["slug"]
    assert page.post(f"/studies/{slug}/participants/w-1/start").json()["condition"] == "a"
    conditions = [{"name": "a", "target": 10}, {"name": "b", "target": 10}]
    assert admin.patch(f"/studies/{slug}", json={"conditions": conditions}).status_code == 200
    assert page.post(f"/studies/{slug}/participants/w-2/start").json()["condition"] == "b"
    conditions.append({"name": "spare", "target": 3})
    assert admin.patch(f"/studies/{slug}", json={"conditions": conditions}).status_code == 200
    return study, page


def test_patch_removing_a_held_condition_is_409_and_changes_nothing(admin, make_study, clock):
    study, _ = _study_with_held_conditions(admin, make_study)
    slug = study["slug"]
    before = admin.get(f"/studies/{slug}").json()
    clock.advance(minutes=1)

    response = admin.patch(
        f"/studies/{slug}",
        json={"title": "lost", "conditions": [{"name": "a", "target": 10}]},
    )
    body = assert_error(response, 409, "condition_in_use", field="conditions")
    assert "b" in body["message"]
    assert any("'b'" in problem for problem in body["fields"]["conditions"])
    assert admin.get(f"/studies/{slug}").json() == before

    response = admin.patch(f"/studies/{slug}", json={"conditions": []})
    body = assert_error(response, 409, "condition_in_use", field="conditions")
    assert len(body["fields"]["conditions"]) == 2
    assert admin.get(f"/studies/{slug}").json() == before


def test_patch_keeping_held_conditions_may_change_targets_and_drop_unheld_ones(
    admin, make_study, clock
):
    study, page = _study_with_held_conditions(admin, make_study)
    slug = study["slug"]
    moved_to = clock.advance(minutes=1)
    kept = [{"name": "b", "target": 1}, {"name": "a", "target": 30}, {"name": "c", "target": 2}]
    response = admin.patch(f"/studies/{slug}", json={"conditions": kept})
    assert response.status_code == 200, response.text
    assert response.json()["conditions"] == kept
    assert at(response.json()["updated_at"]) == moved_to
    # The new targets steer allocation: 'c' is empty, so the next worker goes there.
    assert page.post(f"/studies/{slug}/participants/w-3/start").json()["condition"] == "c"


# --- a study's participants ----------------------------------------------------------------


@pytest.fixture
def populated(admin, make_study, clock):
    """A study with w-1 (a, completed), w-2 (a, started), w-3 (b, completed), w-4 (b, started).

    Conditions are steered, not drawn: 'b' is added only after w-1 and w-2 hold 'a'.
    """
    study, page = make_study(conditions=[{"name": "a", "target": 10}], lease_minutes=30)
    slug = study["slug"]
    for worker in ("w-1", "w-2"):
        assert page.post(f"/studies/{slug}/participants/{worker}/start").json()["condition"] == "a"
        clock.advance(seconds=10)
    conditions = [{"name": "a", "target": 10}, {"name": "b", "target": 10}]
    assert admin.patch(f"/studies/{slug}", json={"conditions": conditions}).status_code == 200
    for worker in ("w-3", "w-4"):
        assert page.post(f"/studies/{slug}/participants/{worker}/start").json()["condition"] == "b"
        clock.advance(seconds=10)
    page.put(f"/studies/{slug}/participants/w-1/state", json={"trial": 12, "note": "ok"})
    codes = {w: page.post(f"/studies/{slug}/participants/{w}/complete") for w in ("w-1", "w-3")}
    assert all(r.status_code == 200 for r in codes.values())
    return slug, page, {w: r.json()["completion_code"] for w, r in codes.items()}


def _workers(items: list[dict[str, Any]]) -> list[str]:
    return [item["worker_id"] for item in items]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["w-1", "w-2", "w-3", "w-4"]),
        ({"status": "completed"}, ["w-1", "w-3"]),
        ({"status": "started"}, ["w-2", "w-4"]),
        ({"status": "abandoned"}, []),
        ({"condition": "a"}, ["w-1", "w-2"]),
        ({"condition": "b"}, ["w-3", "w-4"]),
        ({"condition": "b", "status": "started"}, ["w-4"]),
        ({"condition": "nobody-has-this"}, []),
    ],
)
def test_participant_list_filters(admin, populated, params, expected):
    slug, _, _ = populated
    response = admin.get(f"/studies/{slug}/participants", params=params)
    assert response.status_code == 200, response.text
    assert _workers(response.json()["items"]) == expected
    assert response.json()["next_cursor"] is None


def test_participant_list_items_carry_the_record(admin, populated, clock):
    slug, _, codes = populated
    items = {p["worker_id"]: p for p in admin.get(f"/studies/{slug}/participants").json()["items"]}
    assert items["w-1"]["status"] == "completed"
    assert items["w-1"]["completion_code"] == codes["w-1"]
    assert items["w-1"]["state"] == {"trial": 12, "note": "ok"}
    assert items["w-1"]["condition"] == "a"
    assert at(items["w-1"]["completed_at"]) == clock.now
    assert items["w-2"]["completion_code"] is None and items["w-2"]["completed_at"] is None
    assert at(items["w-2"]["started_at"]) < at(items["w-3"]["started_at"])


def test_participant_list_marks_lapsed_leases_abandoned(admin, populated, clock):
    slug, _, _ = populated
    clock.advance(minutes=31)
    lapsed = admin.get(f"/studies/{slug}/participants", params={"status": "abandoned"}).json()
    assert _workers(lapsed["items"]) == ["w-2", "w-4"]
    started = admin.get(f"/studies/{slug}/participants", params={"status": "started"}).json()
    assert started["items"] == []


def test_participant_list_pages_with_and_without_filters(admin, make_study):
    study, page = make_study()
    slug = study["slug"]
    workers = [f"w-{i}" for i in range(7)]
    for worker in workers:
        assert page.post(f"/studies/{slug}/participants/{worker}/start").status_code == 200
    for worker in workers[::2]:
        assert page.post(f"/studies/{slug}/participants/{worker}/complete").status_code == 200

    pages = follow_pages(admin, f"/studies/{slug}/participants", limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [item["worker_id"] for p in pages for item in p] == workers

    pages = follow_pages(admin, f"/studies/{slug}/participants", limit=2, status="completed")
    assert [item["worker_id"] for p in pages for item in p] == workers[::2]
    assert all(item["status"] == "completed" for p in pages for item in p)


def test_participant_detail_has_its_events(admin, populated, clock):
    slug, page, codes = populated
    clock.advance(minutes=31)  # w-2's lease lapses
    detail = admin.get(f"/studies/{slug}/participants/w-2").json()
    assert detail["status"] == "abandoned"
    assert [e["status"] for e in detail["events"]] == ["started", "abandoned"]
    assert detail["events"][1]["detail"] == "lease lapsed"
    assert at(detail["events"][1]["at"]) == clock.now

    resumed_at = clock.advance(minutes=1)
    assert page.post(f"/studies/{slug}/participants/w-2/start").json()["resumed"] is True
    assert page.post(f"/studies/{slug}/participants/w-2/complete").status_code == 200
    detail = admin.get(f"/studies/{slug}/participants/w-2").json()
    assert [e["status"] for e in detail["events"]] == [
        "started",
        "abandoned",
        "started",
        "completed",
    ]
    assert at(detail["events"][2]["at"]) == resumed_at
    times = [at(e["at"]) for e in detail["events"]]
    assert times == sorted(times)

    completed = admin.get(f"/studies/{slug}/participants/w-1").json()
    assert completed["completion_code"] == codes["w-1"]
    assert completed["state"] == {"trial": 12, "note": "ok"}
    assert [e["status"] for e in completed["events"]] == ["started", "completed"]


def test_participant_detail_of_an_unknown_worker_is_404(admin, populated):
    slug, _, _ = populated
    assert_error(admin.get(f"/studies/{slug}/participants/w-99"), 404, "participant_not_found")


def test_participant_detail_of_a_worker_named_like_a_route(admin, make_study):
    study, page = make_study(platform="none")
    slug = study["slug"]
    started = page.post(f"/studies/{slug}/participants/export/start")
    assert started.status_code == 200 and started.json()["worker_id"] == "export"
    detail = admin.get(f"/studies/{slug}/participants/export")
    assert detail.status_code == 200, detail.text
    assert detail.headers["Content-Type"].startswith("application/json")
    assert detail.json()["worker_id"] == "export"


def test_a_slash_in_a_worker_id_is_refused_rather_than_ambiguous(admin, make_study):
    # "class-3/state" could be worker "class-3"'s state or a worker of that name.
    study, page = make_study(platform="none")
    response = page.post(f"/studies/{study['slug']}/participants/class-3/state/start")
    assert_error(response, 422, "invalid_worker_id", field="worker_id")
    assert admin.get(f"/studies/{study['slug']}/participants").json()["items"] == []


# --- CSV export ----------------------------------------------------------------------------


def test_export_is_csv_with_one_row_per_participant(admin, populated):
    slug, _, codes = populated
    response, rows = export(admin, slug)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{slug}-participants.csv"'
    )
    assert [row["worker_id"] for row in rows] == ["w-1", "w-2", "w-3", "w-4"]

    listed = admin.get(f"/studies/{slug}/participants").json()["items"]
    for row, item in zip(rows, listed, strict=True):
        assert json.loads(row["state"]) == item["state"]
        for name in EXPORT_HEADER:
            if name in ("state", "answers"):
                continue
            expected = item[name]
            assert row[name] == ("" if expected is None else str(expected)), name
    assert rows[0]["completion_code"] == codes["w-1"]
    assert rows[1]["completed_at"] == "" and rows[1]["completion_code"] == ""


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "completed"}, ["w-1", "w-3"]),
        ({"condition": "b"}, ["w-3", "w-4"]),
        ({"status": "started", "condition": "a"}, ["w-2"]),
        ({"status": "rejected"}, []),
    ],
)
def test_export_filters(admin, populated, params, expected):
    slug, _, _ = populated
    _, rows = export(admin, slug, **params)
    assert [row["worker_id"] for row in rows] == expected


def test_export_state_survives_csv_quoting(admin, make_study):
    study, page = make_study()
    slug = study["slug"]
    awkward = {
        "comma": "a, b",
        "quote": 'she said "no"',
        "newline": "line one\nline two\r\nline three",
        "unicode": "Grüße, 東京 🎉",
        "nested": {"list": [1, 2.5, None, True], "empty": {}},
    }
    page.post(f"/studies/{slug}/participants/w-1/start")
    page.put(f"/studies/{slug}/participants/w-1/state", json=awkward)
    _, rows = export(admin, slug)
    assert len(rows) == 1
    assert json.loads(rows[0]["state"]) == awkward


def test_export_defuses_cells_a_spreadsheet_would_run(admin, make_study):
    study, page = make_study()
    slug = study["slug"]
    page.post(f"/studies/{slug}/participants/=HYPERLINK(1)/start", json={"session_id": "@SUM(A1)"})
    page.post(f"/studies/{slug}/participants/plain-worker/start", json={"session_id": "s-1"})
    _, rows = export(admin, slug)
    by_worker = {row["worker_id"]: row for row in rows}
    assert set(by_worker) == {"'=HYPERLINK(1)", "plain-worker"}
    assert by_worker["'=HYPERLINK(1)"]["session_id"] == "'@SUM(A1)"
    assert by_worker["plain-worker"]["session_id"] == "s-1"


def test_export_of_a_study_without_participants_is_the_header_alone(admin, make_study):
    study, _ = make_study()
    _, rows = export(admin, study["slug"])
    assert rows == []


def test_export_of_2500_participants_has_each_exactly_once(admin, make_study, db, clock):
    study, _ = make_study(conditions=[{"name": "a", "target": 1250}, {"name": "b", "target": 1250}])
    slug = study["slug"]
    workers = [f"lab-{i:05d}" for i in range(2500)]
    with db.write() as session:
        record = studies.get_study(session, slug)
        for worker in workers:
            participants.start(session, record, worker, now=clock.now, session_id=worker)

    _, rows = export(admin, slug)
    assert len(rows) == 2500
    assert [row["worker_id"] for row in rows] == workers
    assert all(row["session_id"] == row["worker_id"] for row in rows)
    assert {row["condition"] for row in rows} == {"a", "b"}
    assert sum(row["condition"] == "a" for row in rows) == 1250

    _, only_b = export(admin, slug, condition="b")
    assert len(only_b) == 1250
    assert len({row["worker_id"] for row in only_b}) == 1250
