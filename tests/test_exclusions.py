"""Exclusion groups over HTTP on both databases: the group's own routes, members by
worker, by HIT (through the MTurk emulator) and by uploaded file, hashed exports, and
concurrent changes that lose nothing."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from crowdgate.models import ExclusionMember
from crowdgate.testing import MTurkEmulator
from sqlalchemy import func, select

from tests.http import ApiClient, assert_error

FIXTURES = Path(__file__).parent / "fixtures"
HASH_KEY = "lab-shared-secret-2026"
ON_MTURK = {"platform": "mturk", "mode": "sandbox"}


@pytest.fixture
def hash_key(request: pytest.FixtureRequest) -> str | None:
    """The service's CROWDGATE_ID_HASH_KEY; parametrize indirectly with None to unset it."""
    return getattr(request, "param", HASH_KEY)


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str, hash_key: str | None) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
        "CROWDGATE_ID_HASH_KEY": hash_key,
    }


def worker(n: int) -> str:
    return f"A{n:013d}"


def hashed(worker_id: str, key: str = HASH_KEY) -> str:
    return hmac.new(key.encode(), worker_id.encode(), hashlib.sha256).hexdigest()


def put(admin: ApiClient, name: str, status: int = 200, **body: Any) -> dict[str, Any]:
    response = admin.put(f"/exclusions/{name}", json=body)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def create(admin: ApiClient, name: str, **body: Any) -> dict[str, Any]:
    return put(admin, name, 201, **body)


def change(admin: ApiClient, name: str, **body: Any) -> dict[str, Any]:
    response = admin.post(f"/exclusions/{name}/members", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def upload(
    admin: ApiClient, name: str, content: str | bytes, filename: str = "list.csv", **form: str
) -> Any:
    data = content.encode() if isinstance(content, str) else content
    return admin.post(
        f"/exclusions/{name}/members/file",
        files={"file": (filename, data, "text/csv")},
        data=form,
    )


def pages(admin: ApiClient, name: str, limit: int = 3, **params: Any) -> list[dict[str, Any]]:
    """Every page of the group's member listing, following next_cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": limit, **params}
        if cursor is not None:
            query["cursor"] = cursor
        response = admin.get(f"/exclusions/{name}/members", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        found.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return found
        assert len(found) < 100, "paging does not end"


def members(admin: ApiClient, name: str) -> dict[str, list[str]]:
    return {
        item["worker_id"]: [s["source"] for s in item["sources"]]
        for page in pages(admin, name, limit=7)
        for item in page["items"]
    }


def export(admin: ApiClient, name: str, **params: Any) -> list[dict[str, str]]:
    response = admin.get(f"/exclusions/{name}/members.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


# --- the group -------------------------------------------------------------------------


def test_put_creates_then_updates_only_the_fields_given(admin: ApiClient, clock: Any) -> None:
    made = create(admin, "deception-2026", description="Saw a deception study")
    assert made == {
        "name": "deception-2026",
        "description": "Saw a deception study",
        "record_studies": [],
        "record_when": "started",
        "excluding_studies": [],
        "including_studies": [],
        "members": 0,
        "binding": None,
        "sync_job_id": None,
        "created_at": made["created_at"],
        "updated_at": made["created_at"],
    }
    clock.advance(minutes=5)
    updated = put(admin, "deception-2026", record_when="completed")
    assert updated["description"] == "Saw a deception study"
    assert updated["record_when"] == "completed"
    assert updated["created_at"] == made["created_at"]
    assert updated["updated_at"] > made["updated_at"]
    assert admin.get("/exclusions/deception-2026").json() == updated
    # An empty body is a valid update that changes nothing it names.
    assert put(admin, "deception-2026")["record_when"] == "completed"


@pytest.mark.parametrize(
    "name",
    ["-starts-with-dash", "_underscore", "has space", "x" * 101, "caf\u00e9", "semi;colon"],
)
def test_bad_group_names_are_refused_naming_the_field(admin: ApiClient, name: str) -> None:
    assert_error(admin.put(f"/exclusions/{name}", json={}), 422, "invalid_group_name", "name")
    assert admin.get("/exclusions").json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": 5}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"record_when": "whenever"}, "record_when"),
        ({"record_studies": "one"}, "record_studies"),
        ({"record_studies": ["Not A Slug!"]}, "record_studies.0"),
        ({"record_studies": ["s", "s"]}, "record_studies"),
        ({"mode": "production"}, "mode"),
        ({"mode": "live"}, "mode"),
        (
            {"mturk_qualification_type_id": "lower-case", "mode": "sandbox"},
            "mturk_qualification_type_id",
        ),
        ({"mturk_qualification_type_id": "3ABC"}, "mode"),
        ({"mturk_qualification_name": "took part"}, "mode"),
        ({"mturk_qualification_name": "", "mode": "sandbox"}, "mturk_qualification_name"),
        (
            {
                "mturk_qualification_type_id": "3ABC",
                "mturk_qualification_name": "x",
                "mode": "live",
            },
            "mturk_qualification_name",
        ),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_bad_put_bodies_are_refused_naming_the_field(
    admin: ApiClient, body: dict[str, Any], field: str
) -> None:
    assert_error(admin.put("/exclusions/g", json=body), 422, "validation_error", field)
    assert_error(admin.get("/exclusions/g"), 404, "group_not_found")


def test_record_studies_must_exist(admin: ApiClient, make_study: Any) -> None:
    study, _ = make_study()
    body = {"record_studies": [study["slug"], "no-such-study"]}
    refused = assert_error(
        admin.put("/exclusions/g", json=body), 422, "study_not_found", "record_studies"
    )
    assert "no-such-study" in refused["message"]
    # Nothing was half made: the group does not exist.
    assert_error(admin.get("/exclusions/g"), 404, "group_not_found")


def test_put_needs_a_json_object(admin: ApiClient) -> None:
    assert_error(admin.put("/exclusions/g", data="name=g"), 415, "unsupported_media_type")
    assert_error(admin.put("/exclusions/g", json=[1]), 400, "body_not_object")


def test_binding_by_type_id_and_unbinding_with_null(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    bound = create(admin, "g", mturk_qualification_type_id="3TYPEIDFROMMTURK", mode="live")
    assert bound["binding"] == {
        "platform": "mturk",
        "mode": "live",
        "qualification_type_id": "3TYPEIDFROMMTURK",
        "qualification_name": None,
    }
    # Binding by id trusts the id: nothing is created on MTurk.
    assert mturk_emulator.state.qualification_types == {}
    assert put(admin, "g", description="kept bound")["binding"] == bound["binding"]
    unbound = put(admin, "g", mturk_qualification_type_id=None)
    assert unbound["binding"] is None
    assert unbound["description"] == "kept bound"
    assert admin.get("/exclusions/g").json()["binding"] is None


def test_binding_by_name_creates_once_and_reuses(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    # A PUT refused for another field creates nothing on MTurk.
    refused = admin.put(
        "/exclusions/g",
        json={
            "mturk_qualification_name": "took part before",
            "mode": "sandbox",
            "record_studies": ["no-such-study"],
        },
    )
    assert_error(refused, 422, "study_not_found", "record_studies")
    assert mturk_emulator.state.qualification_types == {}
    first = create(admin, "g", mturk_qualification_name="took part before", mode="sandbox")
    type_id = first["binding"]["qualification_type_id"]
    assert first["binding"]["qualification_name"] == "took part before"
    second = create(admin, "h", mturk_qualification_name="took part before", mode="sandbox")
    assert second["binding"]["qualification_type_id"] == type_id
    assert len(mturk_emulator.state.qualification_types) == 1


def test_unknown_group_is_404_on_every_route(admin: ApiClient) -> None:
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/exclusions/nope", {}),
        ("DELETE", "/exclusions/nope", {}),
        ("GET", "/exclusions/nope/members", {}),
        ("POST", "/exclusions/nope/members", {"json": {"add_worker_ids": [worker(1)]}}),
        ("POST", "/exclusions/nope/members/file", {"files": {"file": ("a.csv", b"A1\n")}}),
        ("GET", "/exclusions/nope/members.csv", {}),
        ("POST", "/exclusions/nope/sync", {"json": {}}),
        # A name no group could have is simply not found (PUT is where names are judged).
        ("GET", "/exclusions/-bad-", {}),
        ("DELETE", "/exclusions/-bad-", {}),
    ]
    for method, path, kwargs in routes:
        body = assert_error(admin.request(method, path, **kwargs), 404, "group_not_found")
        assert "nope" in body["message"] or "-bad-" in body["message"]


def test_routes_need_an_admin_key(admin: ApiClient, anonymous: ApiClient, make_study: Any) -> None:
    create(admin, "g")
    _, page = make_study()
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/exclusions", {}),
        ("GET", "/exclusions/g", {}),
        ("PUT", "/exclusions/g", {"json": {"description": "taken over"}}),
        ("DELETE", "/exclusions/g", {}),
        ("GET", "/exclusions/g/members", {}),
        ("GET", "/exclusions/g/members", {"params": {"hash_ids": "true"}}),
        ("POST", "/exclusions/g/members", {"json": {"add_worker_ids": [worker(1)]}}),
        ("POST", "/exclusions/g/members/file", {"files": {"file": ("a.csv", b"A1\n")}}),
        ("GET", "/exclusions/g/members.csv", {}),
        ("GET", "/exclusions/g/members.csv", {"params": {"hash_ids": "true"}}),
        ("POST", "/exclusions/g/sync", {"json": {}}),
    ]
    for method, path, kwargs in routes:
        assert_error(anonymous.request(method, path, **kwargs), 401, "missing_key")
        assert_error(page.request(method, path, **kwargs), 403, "admin_key_required")
    group = admin.get("/exclusions/g").json()
    assert (group["description"], group["members"]) == ("", 0)


def test_groups_are_listed_page_by_page_oldest_first(admin: ApiClient) -> None:
    names = [f"group-{n}" for n in range(5)]
    for name in names:
        create(admin, name)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = admin.get("/exclusions", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen.extend(g["name"] for g in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    assert_error(admin.get("/exclusions", params={"limit": 0}), 422, "validation_error", "limit")
    assert_error(
        admin.get("/exclusions", params={"cursor": "not-a-cursor"}),
        422,
        "validation_error",
        "cursor",
    )


def test_delete_is_refused_while_studies_use_the_group(admin: ApiClient, make_study: Any) -> None:
    create(admin, "g")
    change(admin, "g", add_worker_ids=[worker(1)])
    excluding, _ = make_study(exclusion_groups=["g"])
    including, _ = make_study(include_groups=["g"])
    body = assert_error(admin.request("DELETE", "/exclusions/g"), 409, "group_in_use")
    assert body["studies"] == sorted([excluding["slug"], including["slug"]])
    assert excluding["slug"] in body["message"]
    group = admin.get("/exclusions/g").json()
    assert group["excluding_studies"] == [excluding["slug"]]
    assert group["including_studies"] == [including["slug"]]
    assert group["members"] == 1

    admin.patch(f"/studies/{excluding['slug']}", json={"exclusion_groups": []})
    body = assert_error(admin.request("DELETE", "/exclusions/g"), 409, "group_in_use")
    assert body["studies"] == [including["slug"]]
    admin.patch(f"/studies/{including['slug']}", json={"include_groups": []})
    deleted = admin.request("DELETE", "/exclusions/g")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert_error(admin.get("/exclusions/g"), 404, "group_not_found")
    assert_error(admin.request("DELETE", "/exclusions/g"), 404, "group_not_found")
    # A new group of the same name starts empty: the members went with the old one.
    assert create(admin, "g")["members"] == 0
    assert members(admin, "g") == {}


def test_a_recording_study_does_not_hold_a_group_back(admin: ApiClient, make_study: Any) -> None:
    study, _ = make_study()
    create(admin, "g", record_studies=[study["slug"]])
    assert admin.get(f"/studies/{study['slug']}").json()["recorded_in"] == ["g"]
    assert admin.request("DELETE", "/exclusions/g").status_code == 204
    assert admin.get(f"/studies/{study['slug']}").json()["recorded_in"] == []


def test_concurrent_puts_of_a_new_name_create_it_once(admin: ApiClient, db: Any) -> None:
    start = threading.Barrier(8)

    def create_it(n: int) -> int:
        with ApiClient(admin.base_url, admin_key=admin_key_of(admin)) as client:
            start.wait()
            response = client.put("/exclusions/raced", json={"description": f"try {n}"})
            return response.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(create_it, range(8)))
    assert statuses == [200] * 7 + [201]
    assert len(admin.get("/exclusions").json()["items"]) == 1


def admin_key_of(client: ApiClient) -> str:
    return str(client.session.headers["Authorization"]).removeprefix("Bearer ")


# --- members by worker and by HIT ------------------------------------------------------


def test_adding_and_removing_workers(admin: ApiClient) -> None:
    create(admin, "g")
    first = change(admin, "g", add_worker_ids=[worker(1), worker(2), worker(3)])
    assert first == {
        "added": 3,
        "removed": 0,
        "kept": 0,
        "already_members": 0,
        "not_members": 0,
        "members": 3,
        "kept_workers": [],
        "unmatched_hit_ids": [],
        "hits": [],
    }
    # Adding the same workers again changes nothing and says so.
    again = change(admin, "g", add_worker_ids=[worker(1), worker(2), worker(4), worker(4)])
    assert (again["added"], again["already_members"], again["members"]) == (1, 2, 4)
    gone = change(admin, "g", remove_worker_ids=[worker(2), worker(99)])
    assert (gone["removed"], gone["not_members"], gone["kept"], gone["members"]) == (1, 1, 0, 3)
    assert sorted(members(admin, "g")) == [worker(1), worker(3), worker(4)]
    assert admin.get("/exclusions/g").json()["members"] == 3


def test_a_worker_both_added_and_removed_stays(admin: ApiClient) -> None:
    create(admin, "g")
    change(admin, "g", add_worker_ids=[worker(1)])
    result = change(
        admin,
        "g",
        add_worker_ids=[worker(1), worker(2)],
        remove_worker_ids=[worker(1), worker(2), worker(3)],
    )
    assert result["kept"] == 2 and result["removed"] == 0
    assert result["added"] == 1 and result["not_members"] == 1
    assert result["kept_workers"] == [
        {"worker_id": worker(1), "reason": "added_in_this_request", "sources": ["workers"]},
        {"worker_id": worker(2), "reason": "added_in_this_request", "sources": ["workers"]},
    ]
    assert sorted(members(admin, "g")) == [worker(1), worker(2)]


def test_the_four_lists_in_one_request(admin: ApiClient, mturk_emulator: MTurkEmulator) -> None:
    first = mturk_emulator.seed_hit(assignments=3, workers=[worker(n) for n in (1, 2, 3)])
    second = mturk_emulator.seed_hit(assignments=2, workers=[worker(n) for n in (3, 4)])
    create(admin, "g", mturk_qualification_type_id="3BOUNDTYPE", mode="sandbox")
    change(admin, "g", add_hit_ids=[first.hit_id], add_worker_ids=[worker(10), worker(11)])
    # The group's binding says where HITs are: no platform or mode needed.
    result = change(
        admin,
        "g",
        add_worker_ids=[worker(12)],
        add_hit_ids=[second.hit_id],
        remove_worker_ids=[worker(10), worker(4)],
        remove_hit_ids=[first.hit_id],
    )
    # Removals first: worker 3 leaves with the first HIT and returns with the second;
    # worker 4 is removed and added (stays); workers 1 and 2 and 10 leave.
    assert result["hits"] == [{"hit_id": second.hit_id, "workers": 2}]
    assert result["removed"] == 3
    assert result["added"] == 2  # workers 4 and 12
    assert result["kept"] == 2
    assert {(k["worker_id"], k["reason"]) for k in result["kept_workers"]} == {
        (worker(3), "added_in_this_request"),
        (worker(4), "added_in_this_request"),
    }
    assert result["members"] == 4
    assert members(admin, "g") == {
        worker(3): [f"hit:{second.hit_id}"],
        worker(4): [f"hit:{second.hit_id}"],
        worker(11): ["workers"],
        worker(12): ["workers"],
    }


def test_removing_a_hit_keeps_workers_other_sources_hold(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=3, workers=[worker(n) for n in (1, 2, 3)])
    create(admin, "g")
    change(admin, "g", add_hit_ids=[hit.hit_id], **ON_MTURK)
    change(admin, "g", add_worker_ids=[worker(2)])
    uploaded = upload(admin, "g", f"{worker(3)}\n", filename="old-list.txt")
    assert uploaded.status_code == 200, uploaded.text

    result = change(admin, "g", remove_hit_ids=[hit.hit_id, "3NEVERADDED"])
    assert result["removed"] == 1 and result["kept"] == 2
    assert result["unmatched_hit_ids"] == ["3NEVERADDED"]
    assert result["kept_workers"] == [
        {"worker_id": worker(2), "reason": "other_sources", "sources": ["workers"]},
        {"worker_id": worker(3), "reason": "other_sources", "sources": ["file:old-list.txt"]},
    ]
    assert members(admin, "g") == {worker(2): ["workers"], worker(3): ["file:old-list.txt"]}
    # Removing the HIT again matches nothing.
    again = change(admin, "g", remove_hit_ids=[hit.hit_id])
    assert again["unmatched_hit_ids"] == [hit.hit_id] and again["removed"] == 0


def test_a_hit_mturk_cannot_read_changes_nothing(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=2)
    create(admin, "g")
    change(admin, "g", add_worker_ids=[worker(1)])
    response = admin.post(
        "/exclusions/g/members",
        json={
            "add_hit_ids": [hit.hit_id, "3NOSUCHHIT0000000000000000000X"],
            "add_worker_ids": [worker(2)],
            "remove_worker_ids": [worker(1)],
            **ON_MTURK,
        },
    )
    body = assert_error(response, 422, "hit_unreadable", "add_hit_ids")
    assert "3NOSUCHHIT0000000000000000000X" in body["message"]
    assert members(admin, "g") == {worker(1): ["workers"]}
    # An id MTurk's form refuses is named by its place in this request's list.
    odd = {"add_hit_ids": [hit.hit_id, "lower-case-hit"], **ON_MTURK}
    body = assert_error(
        admin.post("/exclusions/g/members", json=odd), 422, "validation_error", "add_hit_ids.1"
    )
    assert "lower-case-hit" in body["message"]
    assert members(admin, "g") == {worker(1): ["workers"]}


def test_hits_need_a_platform_when_the_group_has_no_binding(admin: ApiClient) -> None:
    create(admin, "g")
    body = {"add_hit_ids": ["3SOMEHIT"]}
    assert_error(
        admin.post("/exclusions/g/members", json=body), 422, "validation_error", "platform"
    )
    only_platform = {**body, "platform": "mturk"}
    assert_error(
        admin.post("/exclusions/g/members", json=only_platform), 422, "validation_error", "mode"
    )
    assert_error(
        admin.post("/exclusions/g/members", json={**body, "platform": "myspace", "mode": "live"}),
        422,
        "validation_error",
        "platform",
    )
    assert members(admin, "g") == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "add_worker_ids"),
        ({"add_worker_ids": [], "remove_hit_ids": []}, "add_worker_ids"),
        ({"add_worker_ids": "A1"}, "add_worker_ids"),
        ({"add_worker_ids": [""]}, "add_worker_ids.0"),
        ({"add_worker_ids": [worker(1), "has/slash"]}, "add_worker_ids.1"),
        ({"remove_worker_ids": ["x" * 129]}, "remove_worker_ids.0"),
        ({"remove_worker_ids": [" padded"]}, "remove_worker_ids.0"),
        ({"add_worker_ids": ["line\nbreak"]}, "add_worker_ids.0"),
        ({"add_worker_ids": [5]}, "add_worker_ids.0"),
        ({"add_hit_ids": ["bad hit"]}, "add_hit_ids.0"),
        ({"remove_hit_ids": ["bad/hit"]}, "remove_hit_ids.0"),
        ({"add_worker_ids": [worker(1)], "mode": "prod"}, "mode"),
        ({"add_worker_ids": [worker(1)], "surprise": True}, "surprise"),
    ],
)
def test_bad_member_changes_are_refused_naming_the_field(
    admin: ApiClient, body: dict[str, Any], field: str
) -> None:
    create(admin, "g")
    assert_error(admin.post("/exclusions/g/members", json=body), 422, "validation_error", field)
    assert admin.get("/exclusions/g").json()["members"] == 0


def test_ids_of_any_platform_can_be_added_and_removed(admin: ApiClient, make_study: Any) -> None:
    # A lab's own ids (platform "none") may hold dots, @ and spaces: whatever a study
    # records into a group must be removable from it.
    create(admin, "g")
    ids = ["jane.doe@example.org", "panel 0042", "5f3c1a2b9d8e7f6a5b4c3d2e", "A3ABCDEF12345"]
    assert change(admin, "g", add_worker_ids=ids)["added"] == 4
    assert sorted(members(admin, "g")) == sorted(ids)
    assert change(admin, "g", remove_worker_ids=ids[:2])["removed"] == 2
    assert sorted(members(admin, "g")) == sorted(ids[2:])


def test_member_pages_carry_every_source_and_when(admin: ApiClient, clock: Any) -> None:
    create(admin, "g")
    first_time = clock.now
    change(admin, "g", add_worker_ids=[worker(n) for n in range(1, 8)])
    clock.advance(hours=1)
    later = clock.now
    upload(admin, "g", f"worker_id\n{worker(3)}\n{worker(9)}\n", filename="wave2.csv")

    seen = pages(admin, "g", limit=3)
    assert [len(p["items"]) for p in seen] == [3, 3, 2]
    assert seen[-1]["next_cursor"] is None
    items = [item for page in seen for item in page["items"]]
    assert [i["worker_id"] for i in items] == [worker(n) for n in (1, 2, 3, 4, 5, 6, 7, 9)]
    by_worker = {i["worker_id"]: i["sources"] for i in items}
    assert by_worker[worker(3)] == [
        {"source": "workers", "added_at": first_time.isoformat()},
        {"source": "file:wave2.csv", "added_at": later.isoformat()},
    ]
    assert by_worker[worker(9)] == [{"source": "file:wave2.csv", "added_at": later.isoformat()}]
    assert_error(
        admin.get("/exclusions/g/members", params={"limit": 1001}), 422, "validation_error", "limit"
    )


def test_concurrent_member_changes_lose_no_rows(admin: ApiClient, db: Any) -> None:
    create(admin, "g")
    key = admin_key_of(admin)
    start = threading.Barrier(10)

    def add(n: int) -> dict[str, Any]:
        # Each request adds 30 workers of its own and 10 that every request adds.
        ids = [worker(1000 * (n + 1) + i) for i in range(30)] + [worker(i) for i in range(10)]
        with ApiClient(admin.base_url, admin_key=key) as client:
            start.wait()
            response = client.post("/exclusions/g/members", json={"add_worker_ids": ids})
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(add, range(10)))
    assert sum(r["added"] for r in results) == 310
    assert sum(r["already_members"] for r in results) == 90
    assert admin.get("/exclusions/g").json()["members"] == 310
    assert len(members(admin, "g")) == 310
    with db.read() as session:
        rows = session.scalar(select(func.count()).select_from(ExclusionMember))
    assert rows == 310


# --- uploads ---------------------------------------------------------------------------


def batch_workers() -> list[str]:
    with (FIXTURES / "mturk_batch_results.csv").open(newline="") as handle:
        return list(dict.fromkeys(row["WorkerId"] for row in csv.DictReader(handle)))


def test_an_mturk_batch_results_file(admin: ApiClient) -> None:
    create(admin, "g")
    data = (FIXTURES / "mturk_batch_results.csv").read_bytes()
    response = upload(admin, "g", data, filename="Batch_3598231_batch_results.csv")
    assert response.status_code == 200, response.text
    result = response.json()
    expected = batch_workers()
    assert result["file"] == {
        "name": "Batch_3598231_batch_results.csv",
        "read_from": "column 'WorkerId'",
        "workers": len(expected),
    }
    assert result["added"] == len(expected) == result["members"]
    listed = members(admin, "g")
    assert sorted(listed) == sorted(expected)
    assert set(map(tuple, listed.values())) == {("file:Batch_3598231_batch_results.csv",)}
    # The same file again adds no one.
    again = upload(admin, "g", data, filename="Batch_3598231_batch_results.csv").json()
    assert (again["added"], again["already_members"]) == (0, len(expected))


PROLIFIC_IDS = ["5f3c1a2b9d8e7f6a5b4c3d2e", "60aa11bb22cc33dd44ee55ff", "6123456789abcdef01234567"]


def prolific_export() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "Submission id",
            "Participant id",
            "Status",
            "Custom study tncs accepted at",
            "Started at",
            "Completed at",
            "Reviewed at",
            "Archived at",
            "Time taken",
            "Completion code",
            "Total approvals",
            "Age",
            "Sex",
        ]
    )
    for n, participant in enumerate(PROLIFIC_IDS):
        writer.writerow(
            [
                f"64b{n:021x}",
                participant,
                "APPROVED" if n else "RETURNED",
                "Not Applicable",
                "2026-03-02T10:11:12.000Z",
                "2026-03-02T10:21:12.000Z",
                "",
                "2026-03-02T10:21:13.000Z",
                "600",
                "C1A2B3C4",
                "150",
                "34",
                "Female",
            ]
        )
    return buffer.getvalue()


def test_a_prolific_export(admin: ApiClient) -> None:
    create(admin, "g")
    response = upload(admin, "g", prolific_export(), filename="prolific_export_64b.csv")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["file"]["read_from"] == "column 'Participant id'"
    assert result["added"] == 3
    assert members(admin, "g") == {p: ["file:prolific_export_64b.csv"] for p in PROLIFIC_IDS}


@pytest.mark.parametrize(
    "content",
    [
        f"{worker(1)}\n{worker(2)}\n\n{worker(3)}\n{worker(2)}\n",
        f"WorkerId\n{worker(1)}\n{worker(2)}\n{worker(3)}\n",
        f"worker id\r\n{worker(1)}\r\n{worker(2)}\r\n{worker(3)}\r\n",
        f"\ufeff{worker(1)}\n  {worker(2)}  \n{worker(3)}",
    ],
    ids=["no-header", "header", "crlf-header", "bom-and-spaces"],
)
def test_a_plain_list(admin: ApiClient, content: str) -> None:
    create(admin, "g")
    response = upload(admin, "g", content, filename="ids.txt")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["added"] == 3
    assert result["file"]["workers"] == 3
    assert sorted(members(admin, "g")) == [worker(1), worker(2), worker(3)]


def test_a_file_can_remove(admin: ApiClient) -> None:
    create(admin, "g")
    change(admin, "g", add_worker_ids=[worker(n) for n in range(1, 5)])
    response = upload(admin, "g", f"{worker(1)}\n{worker(2)}\n{worker(9)}\n", action="remove")
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["removed"], result["not_members"], result["members"]) == (2, 1, 2)
    assert sorted(members(admin, "g")) == [worker(3), worker(4)]
    bad = upload(admin, "g", f"{worker(3)}\n", action="erase")
    assert_error(bad, 422, "validation_error", "action")
    assert len(members(admin, "g")) == 2


def test_a_file_without_an_id_column(admin: ApiClient) -> None:
    create(admin, "g")
    content = "AssignmentId,Answer.surveycode\n3ASSIGN1,1234\n3ASSIGN2,5678\n"
    body = assert_error(upload(admin, "g", content), 422, "column_not_found", "file")
    assert "AssignmentId" in body["message"]


def test_bad_values_are_named_by_line(admin: ApiClient) -> None:
    create(admin, "g")
    content = f"{worker(1)}\n\nbad/id\n{worker(2)}\n{'x' * 129}\n"
    body = assert_error(upload(admin, "g", content), 422, "invalid_worker_id", "file")
    assert body["fields"]["file"] == ["line 3: 'bad/id'", f"line 5: {'x' * 129!r}"]
    column = f'Participant id,Status\n{PROLIFIC_IDS[0]},APPROVED\n"a/b",RETURNED\n'
    body = assert_error(upload(admin, "g", column), 422, "invalid_worker_id", "file")
    assert body["fields"]["file"] == ["line 3: 'a/b'"]
    assert members(admin, "g") == {}


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"", "is empty"), (b"\n\n", "is empty"), (b"WorkerId\n", "lists no worker ids")],
)
def test_files_with_no_ids(admin: ApiClient, content: bytes, problem: str) -> None:
    create(admin, "g")
    body = assert_error(upload(admin, "g", content), 422, "invalid_upload", "file")
    assert body["fields"]["file"] == [problem]


def test_an_upload_must_be_a_multipart_form_with_a_file(admin: ApiClient) -> None:
    create(admin, "g")
    as_json = admin.post("/exclusions/g/members/file", json={"file": worker(1)})
    assert_error(as_json, 415, "unsupported_media_type")
    raw = admin.post(
        "/exclusions/g/members/file", data=worker(1), headers={"Content-Type": "text/csv"}
    )
    assert_error(raw, 415, "unsupported_media_type")
    wrong_field = admin.post(
        "/exclusions/g/members/file", files={"upload": ("a.csv", worker(1).encode())}
    )
    assert_error(wrong_field, 422, "validation_error", "file")
    # A multipart form whose only field is the action.
    no_file = admin.post("/exclusions/g/members/file", files={"action": (None, "add")})
    assert_error(no_file, 422, "validation_error", "file")
    extra = admin.post(
        "/exclusions/g/members/file",
        files={"file": ("a.csv", worker(1).encode()), "note": (None, "hello")},
    )
    assert_error(extra, 422, "validation_error", "note")
    assert members(admin, "g") == {}


def test_the_file_source_is_the_files_own_name(admin: ApiClient) -> None:
    create(admin, "g")
    response = upload(admin, "g", f"{worker(1)}\n", filename="exports/wave;1.csv")
    assert response.status_code == 200, response.text
    assert response.json()["file"]["name"] == "wave_1.csv"
    response = upload(admin, "g", f"{worker(2)}\n", filename="../../etc/wave2.csv")
    assert response.json()["file"]["name"] == "wave2.csv"
    assert members(admin, "g") == {worker(1): ["file:wave_1.csv"], worker(2): ["file:wave2.csv"]}


# --- hashed exports --------------------------------------------------------------------


def test_the_csv_export(admin: ApiClient, clock: Any) -> None:
    create(admin, "g")
    first = clock.now
    change(admin, "g", add_worker_ids=[worker(2), worker(1)])
    clock.advance(days=1)
    upload(admin, "g", f"{worker(2)}\n{worker(3)}\n", filename="more.csv")
    rows = export(admin, "g")
    assert rows == [
        {"worker_id": worker(1), "first_added_at": first.isoformat(), "sources": "workers"},
        {
            "worker_id": worker(2),
            "first_added_at": first.isoformat(),
            "sources": "workers;file:more.csv",
        },
        {
            "worker_id": worker(3),
            "first_added_at": clock.now.isoformat(),
            "sources": "file:more.csv",
        },
    ]
    response = admin.get("/exclusions/g/members.csv")
    assert 'filename="g-members.csv"' in response.headers["Content-Disposition"]


def test_hashed_exports_give_hmac_sha256_of_each_id(admin: ApiClient) -> None:
    create(admin, "first")
    create(admin, "second")
    ids = [worker(n) for n in range(1, 6)]
    change(admin, "first", add_worker_ids=ids)
    change(admin, "second", add_worker_ids=[ids[0], worker(77)])

    rows = export(admin, "first", hash_ids="true")
    assert [r["worker_id"] for r in rows] == [hashed(w) for w in ids]
    assert all(len(r["worker_id"]) == 64 for r in rows)
    other = {r["worker_id"] for r in export(admin, "second", hash_ids="true")}
    # One id hashes alike in every group, so records can be matched without raw ids.
    assert {r["worker_id"] for r in rows} & other == {hashed(ids[0])}
    # Off by default, and "false" is off.
    assert export(admin, "first", hash_ids="false")[0]["worker_id"] == ids[0]
    assert_error(
        admin.get("/exclusions/first/members.csv", params={"hash_ids": "maybe"}),
        422,
        "validation_error",
        "hash_ids",
    )


def test_a_hashed_listing_gives_no_raw_id_away(admin: ApiClient) -> None:
    create(admin, "g")
    ids = [worker(n) for n in range(1, 12)]
    change(admin, "g", add_worker_ids=ids)
    seen = pages(admin, "g", limit=4, hash_ids="true")
    assert len(seen) == 3
    items = [item for page in seen for item in page["items"]]
    assert sorted(i["worker_id"] for i in items) == sorted(hashed(w) for w in ids)
    assert all(i["sources"][0]["source"] == "workers" for i in items)
    for page in seen:
        text = str(page)
        for raw in ids:
            assert raw not in text
            assert raw[1:] not in text  # not even without its leading letter
    # A hashed listing continues only from cursors it handed out.
    forged = {"cursor": worker(4), "hash_ids": "true"}
    assert_error(
        admin.get("/exclusions/g/members", params=forged), 422, "validation_error", "cursor"
    )


@pytest.mark.parametrize("hash_key", [None], indirect=True)
def test_hashing_needs_the_key(admin: ApiClient, anonymous: ApiClient) -> None:
    create(admin, "g")
    change(admin, "g", add_worker_ids=[worker(1)])
    for path in ("/exclusions/g/members.csv", "/exclusions/g/members"):
        body = assert_error(admin.get(path, params={"hash_ids": "true"}), 409, "hash_key_not_set")
        assert "CROWDGATE_ID_HASH_KEY" in body["message"]
        # Who may not read the group learns nothing about the service's settings.
        assert_error(anonymous.get(path, params={"hash_ids": "true"}), 401, "missing_key")
    assert export(admin, "g")[0]["worker_id"] == worker(1)


def test_csv_cells_cannot_start_a_formula(admin: ApiClient) -> None:
    create(admin, "g")
    risky = ["=1+2", "+A1", "-A2", "@SUM(1)"]
    change(admin, "g", add_worker_ids=risky)
    upload(admin, "g", "=HYPERLINK(1)\n", filename="=cmd.csv")
    rows = export(admin, "g")
    assert {r["worker_id"] for r in rows} == {"'" + w for w in [*risky, "=HYPERLINK(1)"]}
    assert {r["sources"] for r in rows} == {"workers", "file:=cmd.csv"}
    assert all(not r["sources"].startswith(("=", "+", "-", "@")) for r in rows)


def test_big_lists_in_one_request(admin: ApiClient) -> None:
    # More ids than SQLite takes parameters in one statement (32,766), and enough that
    # anything quadratic in the lists' lengths would time out.
    create(admin, "g")
    ids = [f"A{n:07d}" for n in range(12_000)]
    added = change(admin, "g", add_worker_ids=ids)
    assert added["added"] == 12_000 and added["members"] == 12_000
    hits = [f"H{n:06d}" for n in range(40_000)]
    gone = change(admin, "g", remove_hit_ids=hits, remove_worker_ids=ids[:10_000])
    assert gone["removed"] == 10_000 and gone["members"] == 2_000
    assert len(gone["unmatched_hit_ids"]) == 40_000
    both = change(admin, "g", add_worker_ids=ids[:200], remove_worker_ids=ids[:200])
    assert both["kept"] == 200 and len(both["kept_workers"]) == 100
    assert both["members"] == 2_200
