"""Exclusion groups at the door, on both databases: /eligibility and /start refuse
excluded workers and admit only members of include groups, a returning worker is not
refused, studies record their participants into groups (at start, completion or a sync
through the MTurk emulator), and concurrent starts record a worker once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from crowdgate.models import ExclusionMember, Participant
from crowdgate.testing import MTurkEmulator
from sqlalchemy import func, select

from tests.http import ApiClient, assert_error

T = TypeVar("T")


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
    }


def worker(n: int) -> str:
    return f"A{n:013d}"


def put_group(admin: ApiClient, name: str, **body: Any) -> dict[str, Any]:
    response = admin.put(f"/exclusions/{name}", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def add(admin: ApiClient, name: str, *workers: str) -> None:
    response = admin.post(f"/exclusions/{name}/members", json={"add_worker_ids": list(workers)})
    assert response.status_code == 200, response.text


def remove(admin: ApiClient, name: str, *workers: str) -> dict[str, Any]:
    response = admin.post(f"/exclusions/{name}/members", json={"remove_worker_ids": list(workers)})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def members(admin: ApiClient, name: str) -> dict[str, list[str]]:
    response = admin.get(f"/exclusions/{name}/members", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {i["worker_id"]: [s["source"] for s in i["sources"]] for i in response.json()["items"]}


def eligibility(client: ApiClient, slug: str, worker_id: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/studies/{slug}/eligibility", params={"worker_id": worker_id, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def start(client: ApiClient, slug: str, worker_id: str, **body: str) -> Any:
    return client.post(f"/studies/{slug}/participants/{worker_id}/start", json=body)


def started(client: ApiClient, slug: str, worker_id: str, **body: str) -> dict[str, Any]:
    response = start(client, slug, worker_id, **body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def complete(client: ApiClient, slug: str, worker_id: str) -> dict[str, Any]:
    response = client.post(f"/studies/{slug}/participants/{worker_id}/complete", json={})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def participant_count(db: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Participant)) or 0)


def sync_study(admin: ApiClient, slug: str) -> dict[str, Any]:
    response = admin.post(f"/studies/{slug}/sync")
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert job["state"] == "succeeded", job
    return job  # type: ignore[no-any-return]


# --- refusing and admitting ------------------------------------------------------------


def test_an_excluded_worker_is_refused_and_only_admins_see_the_group(
    admin: ApiClient, make_study: Any, db: Any
) -> None:
    put_group(admin, "deception")
    put_group(admin, "other")
    add(admin, "deception", worker(1))
    study, page = make_study(exclusion_groups=["other", "deception"])
    slug = study["slug"]

    assert eligibility(page, slug, worker(1)) == {
        "worker_id": worker(1),
        "eligible": False,
        "reason": "excluded",
    }
    assert eligibility(admin, slug, worker(1)) == {
        "worker_id": worker(1),
        "eligible": False,
        "reason": "excluded",
        "group": "deception",
    }
    assert eligibility(page, slug, worker(2)) == {
        "worker_id": worker(2),
        "eligible": True,
        "reason": "new",
    }
    assert "group" not in eligibility(admin, slug, worker(2))

    body = assert_error(start(page, slug, worker(1)), 409, "excluded")
    assert body["reason"] == "excluded"
    assert "group" not in body and "deception" not in body["message"]
    body = assert_error(start(admin, slug, worker(1)), 409, "excluded")
    assert (body["reason"], body["group"]) == ("excluded", "deception")
    # A refused start leaves no trace.
    assert participant_count(db) == 0
    assert started(page, slug, worker(2))["resumed"] is False


def test_include_groups_admit_only_their_members(admin: ApiClient, make_study: Any) -> None:
    put_group(admin, "panel")
    put_group(admin, "consented")
    add(admin, "panel", worker(1), worker(2))
    add(admin, "consented", worker(2))
    study, page = make_study(include_groups=["panel", "consented"])
    slug = study["slug"]

    assert eligibility(page, slug, worker(9)) == {
        "worker_id": worker(9),
        "eligible": False,
        "reason": "not_included",
    }
    # Every include group must list the worker; the admin sees which one does not.
    assert eligibility(admin, slug, worker(1))["group"] == "consented"
    assert eligibility(page, slug, worker(2))["eligible"] is True
    body = assert_error(start(page, slug, worker(1)), 409, "not_included")
    assert body["reason"] == "not_included" and "group" not in body
    body = assert_error(start(admin, slug, worker(9)), 409, "not_included")
    assert body["group"] == "consented"
    assert started(page, slug, worker(2))["resumed"] is False


def test_exclusion_wins_over_inclusion(admin: ApiClient, make_study: Any) -> None:
    put_group(admin, "panel")
    put_group(admin, "banned")
    add(admin, "panel", worker(1), worker(2))
    add(admin, "banned", worker(1))
    study, page = make_study(include_groups=["panel"], exclusion_groups=["banned"])
    assert eligibility(admin, study["slug"], worker(1))["group"] == "banned"
    assert eligibility(page, study["slug"], worker(1))["reason"] == "excluded"
    assert eligibility(page, study["slug"], worker(2))["reason"] == "new"


def test_a_worker_returning_to_a_started_attempt_is_not_refused(
    admin: ApiClient, make_study: Any
) -> None:
    put_group(admin, "g")
    study, page = make_study(exclusion_groups=["g"])
    slug = study["slug"]
    first = started(page, slug, worker(1), assignment_id="ASSIGN1")
    add(admin, "g", worker(1))
    assert eligibility(page, slug, worker(1)) == {
        "worker_id": worker(1),
        "eligible": True,
        "reason": "resume",
    }
    again = started(page, slug, worker(1), assignment_id="ASSIGN1")
    assert again["resumed"] is True and again["attempt"] == first["attempt"]
    # A new assignment is a new participation: the study's own repeat rule answers first.
    assert eligibility(page, slug, worker(1), assignment_id="ASSIGN2")["reason"] == (
        "already_participated"
    )


def test_removing_a_worker_from_the_group_lets_them_in(admin: ApiClient, make_study: Any) -> None:
    put_group(admin, "g")
    add(admin, "g", worker(1))
    study, page = make_study(exclusion_groups=["g"])
    assert eligibility(page, study["slug"], worker(1))["eligible"] is False
    assert remove(admin, "g", worker(1))["removed"] == 1
    assert eligibility(page, study["slug"], worker(1)) == {
        "worker_id": worker(1),
        "eligible": True,
        "reason": "new",
    }
    assert started(page, study["slug"], worker(1))["resumed"] is False


def test_a_study_that_stops_excluding_admits_again(admin: ApiClient, make_study: Any) -> None:
    put_group(admin, "g")
    add(admin, "g", worker(1))
    study, page = make_study(exclusion_groups=["g"])
    assert eligibility(page, study["slug"], worker(1))["eligible"] is False
    patched = admin.patch(f"/studies/{study['slug']}", json={"exclusion_groups": []})
    assert patched.status_code == 200, patched.text
    assert patched.json()["exclusion_groups"] == []
    assert eligibility(page, study["slug"], worker(1))["eligible"] is True


# --- recording a study's participants --------------------------------------------------


def test_a_studys_own_record_does_not_exclude_from_it_but_does_from_others(
    admin: ApiClient, make_study: Any
) -> None:
    first, first_page = make_study(allow_repeats=True)
    put_group(admin, "took-part", record_studies=[first["slug"]])
    admin.patch(f"/studies/{first['slug']}", json={"exclusion_groups": ["took-part"]})
    second, second_page = make_study(exclusion_groups=["took-part"])

    started(first_page, first["slug"], worker(1), assignment_id="ASSIGN1")
    assert members(admin, "took-part") == {worker(1): [f"study:{first['slug']}"]}
    # The study's own record does not keep the worker from another attempt at it...
    assert eligibility(first_page, first["slug"], worker(1), assignment_id="ASSIGN2") == {
        "worker_id": worker(1),
        "eligible": True,
        "reason": "repeats_allowed",
    }
    again = started(first_page, first["slug"], worker(1), assignment_id="ASSIGN2")
    assert (again["resumed"], again["attempt"]) == (False, 2)
    # ...but keeps them from every other study excluding the group.
    assert eligibility(admin, second["slug"], worker(1)) == {
        "worker_id": worker(1),
        "eligible": False,
        "reason": "excluded",
        "group": "took-part",
    }
    assert_error(start(second_page, second["slug"], worker(1)), 409, "excluded")
    # Listed by hand as well, the worker is excluded from the recording study too.
    add(admin, "took-part", worker(1))
    assert eligibility(first_page, first["slug"], worker(1), assignment_id="ASSIGN3")["reason"] == (
        "excluded"
    )


def test_record_when_started(admin: ApiClient, make_study: Any, clock: Any) -> None:
    study, page = make_study()
    group = put_group(admin, "g", record_studies=[study["slug"]])
    assert group["record_when"] == "started"
    started(page, study["slug"], worker(1))
    response = admin.get("/exclusions/g/members")
    [item] = response.json()["items"]
    assert item == {
        "worker_id": worker(1),
        "sources": [{"source": f"study:{study['slug']}", "added_at": clock.now.isoformat()}],
    }
    # Resuming and completing add nothing more.
    started(page, study["slug"], worker(1))
    complete(page, study["slug"], worker(1))
    assert members(admin, "g") == {worker(1): [f"study:{study['slug']}"]}


def test_record_when_completed(admin: ApiClient, make_study: Any) -> None:
    study, page = make_study()
    put_group(admin, "g", record_studies=[study["slug"]], record_when="completed")
    started(page, study["slug"], worker(1))
    started(page, study["slug"], worker(2))
    assert members(admin, "g") == {}
    complete(page, study["slug"], worker(1))
    assert members(admin, "g") == {worker(1): [f"study:{study['slug']}"]}
    complete(page, study["slug"], worker(1))  # a repeated completion changes nothing
    assert admin.get("/exclusions/g").json()["members"] == 1


def test_record_when_submitted_waits_for_the_sync(
    admin: ApiClient, make_study: Any, mturk_emulator: MTurkEmulator, db: Any
) -> None:
    study, page = make_study(platform="mturk", mode="sandbox")
    slug = study["slug"]
    put_group(admin, "submitted", record_studies=[slug], record_when="submitted")
    put_group(admin, "completed", record_studies=[slug], record_when="completed")
    put_group(admin, "started", record_studies=[slug])
    started(page, slug, worker(1))
    complete(page, slug, worker(1))
    started(page, slug, worker(2))
    assert members(admin, "submitted") == {}
    assert sorted(members(admin, "completed")) == [worker(1)]
    assert sorted(members(admin, "started")) == [worker(1), worker(2)]

    # Workers 1 and 3 submit the HIT; worker 3 never called /start.
    hit = mturk_emulator.seed_hit(assignments=2, workers=[worker(1), worker(3)])
    admin.patch(f"/studies/{slug}", json={"hit_ids": [hit.hit_id]})
    sync_study(admin, slug)
    source = [f"study:{slug}"]
    assert members(admin, "submitted") == {worker(1): source, worker(3): source}
    assert members(admin, "completed") == {worker(1): source, worker(3): source}
    assert members(admin, "started") == {w: source for w in (worker(1), worker(2), worker(3))}
    # A second sync adds nothing.
    sync_study(admin, slug)
    with db.read() as session:
        rows = session.scalar(select(func.count()).select_from(ExclusionMember))
    assert rows == 7


def test_rules_set_later_take_in_the_participants_so_far(admin: ApiClient, make_study: Any) -> None:
    study, page = make_study()
    slug = study["slug"]
    started(page, slug, worker(1))
    started(page, slug, worker(2))
    complete(page, slug, worker(2))
    other, _ = make_study()
    started(ApiClient(admin.base_url, survey_key=other["survey_key"]), other["slug"], worker(3))

    group = put_group(admin, "g", record_studies=[slug], record_when="completed")
    assert group["record_studies"] == [slug] and group["members"] == 1
    assert members(admin, "g") == {worker(2): [f"study:{slug}"]}
    assert put_group(admin, "g", record_when="started")["members"] == 2
    # Adding a second study takes in its participants too.
    both = put_group(admin, "g", record_studies=[slug, other["slug"]])
    assert both["record_studies"] == sorted([slug, other["slug"]])
    assert members(admin, "g") == {
        worker(1): [f"study:{slug}"],
        worker(2): [f"study:{slug}"],
        worker(3): [f"study:{other['slug']}"],
    }
    assert admin.get(f"/studies/{slug}").json()["recorded_in"] == ["g"]
    # Backfilled members are the study's own: they do not exclude from it.
    admin.patch(f"/studies/{slug}", json={"exclusion_groups": ["g"], "allow_repeats": True})
    assert eligibility(page, slug, worker(2), assignment_id="ASSIGN9")["eligible"] is True
    # Stopping the recording keeps who was recorded.
    assert put_group(admin, "g", record_studies=[])["members"] == 3
    assert admin.get(f"/studies/{slug}").json()["recorded_in"] == []
    started(page, slug, worker(4))
    assert worker(4) not in members(admin, "g")


# --- studies naming groups -------------------------------------------------------------


def test_studies_name_their_groups(admin: ApiClient, make_study: Any) -> None:
    for name in ("a", "b", "c"):
        put_group(admin, name)
    study, _ = make_study(exclusion_groups=["b", "a"], include_groups=["c"])
    assert (study["exclusion_groups"], study["include_groups"], study["recorded_in"]) == (
        ["a", "b"],
        ["c"],
        [],
    )
    slug = study["slug"]
    put_group(admin, "c", record_studies=[slug])
    read = admin.get(f"/studies/{slug}").json()
    assert read["recorded_in"] == ["c"]
    listed = [s for s in admin.get("/studies").json()["items"] if s["slug"] == slug]
    assert listed[0]["exclusion_groups"] == ["a", "b"]
    assert listed[0]["recorded_in"] == ["c"]

    # A PATCH replaces the list it names and leaves the other alone.
    patched = admin.patch(f"/studies/{slug}", json={"exclusion_groups": ["c"]}).json()
    assert (patched["exclusion_groups"], patched["include_groups"]) == (["c"], ["c"])
    assert admin.get("/exclusions/c").json()["excluding_studies"] == [slug]
    assert admin.get("/exclusions/a").json()["excluding_studies"] == []
    cleared = admin.patch(f"/studies/{slug}", json={"include_groups": []}).json()
    assert cleared["include_groups"] == [] and cleared["exclusion_groups"] == ["c"]


@pytest.mark.parametrize("field", ["exclusion_groups", "include_groups"])
def test_studies_cannot_name_groups_that_do_not_exist(
    admin: ApiClient, make_study: Any, field: str
) -> None:
    put_group(admin, "real")
    body = {"slug": "needs-groups", "platform": "none", field: ["real", "imaginary"]}
    refused = assert_error(admin.post("/studies", json=body), 422, "group_not_found", field)
    assert refused["fields"][field] == ["no group 'imaginary'"]
    # Nothing was created: the study does not exist.
    assert_error(admin.get("/studies/needs-groups"), 404, "study_not_found")

    study, _ = make_study(**{field: ["real"]})
    patched = admin.patch(f"/studies/{study['slug']}", json={field: ["real", "imaginary"]})
    assert_error(patched, 422, "group_not_found", field)
    assert admin.get(f"/studies/{study['slug']}").json()[field] == ["real"]

    twice = admin.patch(f"/studies/{study['slug']}", json={field: ["real", "real"]})
    assert_error(twice, 422, "validation_error", field)
    bad = admin.patch(f"/studies/{study['slug']}", json={field: ["no spaces"]})
    assert_error(bad, 422, "validation_error", f"{field}.0")
    not_a_list = admin.patch(f"/studies/{study['slug']}", json={field: "real"})
    assert_error(not_a_list, 422, "validation_error", field)
    assert admin.get(f"/studies/{study['slug']}").json()[field] == ["real"]


def test_recorded_in_is_read_only(admin: ApiClient, make_study: Any) -> None:
    put_group(admin, "g")
    study, _ = make_study()
    response = admin.patch(f"/studies/{study['slug']}", json={"recorded_in": ["g"]})
    assert_error(response, 422, "validation_error", "recorded_in")


# --- at the same time ------------------------------------------------------------------


def at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run the calls in threads released together; their results in order."""
    gate = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def admin_key_of(client: ApiClient) -> str:
    return str(client.session.headers["Authorization"]).removeprefix("Bearer ")


def starting(base_url: str, study: dict[str, Any], worker_id: str) -> Callable[[], Any]:
    def call() -> Any:
        with ApiClient(base_url, survey_key=study["survey_key"]) as page:
            return start(page, study["slug"], worker_id)

    return call


def as_admin(admin: ApiClient, method: str, path: str, **kwargs: Any) -> Callable[[], Any]:
    key = admin_key_of(admin)

    def call() -> Any:
        with ApiClient(admin.base_url, admin_key=key) as client:
            return client.request(method, path, **kwargs)

    return call


def test_concurrent_starts_record_the_worker_once(
    admin: ApiClient, make_study: Any, db: Any
) -> None:
    study, _ = make_study()
    put_group(admin, "g", record_studies=[study["slug"]])
    responses = at_once([starting(admin.base_url, study, worker(1))] * 20)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["resumed"] for r in responses) == [False] + [True] * 19
    with db.read() as session:
        rows = list(session.execute(select(ExclusionMember.worker_id, ExclusionMember.source)))
    assert rows == [(worker(1), f"study:{study['slug']}")]
    assert participant_count(db) == 1


def test_concurrent_starts_of_many_workers_all_get_recorded(
    admin: ApiClient, make_study: Any
) -> None:
    study, _ = make_study()
    put_group(admin, "g", record_studies=[study["slug"]])
    responses = at_once([starting(admin.base_url, study, worker(n)) for n in range(20)])
    assert [r.status_code for r in responses] == [200] * 20
    assert sorted(members(admin, "g")) == [worker(n) for n in range(20)]


def test_starts_and_group_changes_at_once_neither_fails(admin: ApiClient, make_study: Any) -> None:
    # A start holds its study's lock while it records the worker into the group; a PUT
    # of the group's record_studies writes rows naming that study. Neither may end in
    # a deadlock (a 500) on PostgreSQL.
    study, _ = make_study()
    slug = study["slug"]
    put_group(admin, "g", record_studies=[slug])
    calls = [
        starting(admin.base_url, study, worker(n))
        if n % 2
        else as_admin(
            admin, "PUT", "/exclusions/g", json={"record_studies": [slug], "description": str(n)}
        )
        for n in range(30)
    ]
    responses = at_once(calls)
    assert [r.status_code for r in responses] == [200] * 30, [r.text for r in responses]
    assert sorted(members(admin, "g")) == [worker(n) for n in range(1, 30, 2)]


def test_a_group_deleted_while_its_study_starts_workers(admin: ApiClient, make_study: Any) -> None:
    study, _ = make_study()
    for round_ in range(5):
        name = f"g{round_}"
        put_group(admin, name, record_studies=[study["slug"]])
        calls = [as_admin(admin, "DELETE", f"/exclusions/{name}")] + [
            starting(admin.base_url, study, worker(100 * round_ + n)) for n in range(9)
        ]
        responses = at_once(calls)
        assert [r.status_code for r in responses] == [204] + [200] * 9, [r.text for r in responses]
        assert_error(admin.get(f"/exclusions/{name}"), 404, "group_not_found")


def test_a_study_naming_a_group_being_deleted(admin: ApiClient, make_study: Any) -> None:
    study, _ = make_study()
    path = f"/studies/{study['slug']}"
    for round_ in range(5):
        name = f"g{round_}"
        put_group(admin, name)
        deleted, patched = at_once(
            [
                as_admin(admin, "DELETE", f"/exclusions/{name}"),
                as_admin(admin, "PATCH", path, json={"exclusion_groups": [name]}),
            ]
        )
        # Whichever comes first wins; the other is refused with a clear 4xx.
        if deleted.status_code == 204:
            assert_error(patched, 422, "group_not_found", "exclusion_groups")
        else:
            assert_error(deleted, 409, "group_in_use")
            assert patched.status_code == 200, patched.text
            admin.patch(path, json={"exclusion_groups": []})
