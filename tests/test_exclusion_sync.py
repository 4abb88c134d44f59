"""The participation record end to end through the MTurk emulator: HITs' workers and
listed workers become excluded, a qualification is granted quietly and exactly once,
and a sync stopped midway is resumed without granting anyone twice."""

from __future__ import annotations

from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.http import ApiClient, assert_error

QUAL_NAME = "crowdgate-deception-record"


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


def change(admin: ApiClient, name: str, **body: Any) -> dict[str, Any]:
    response = admin.post(f"/exclusions/{name}/members", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def members(admin: ApiClient, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        response = admin.get(f"/exclusions/{name}/members", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            found[item["worker_id"]] = [s["source"] for s in item["sources"]]
        cursor = page["next_cursor"]
        if not cursor:
            return found


def sync(admin: ApiClient, name: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = admin.post(f"/exclusions/{name}/sync", json=body)
    assert response.status_code in (200, 202), response.text
    return response.status_code, response.json()


def granted(emulator: MTurkEmulator, type_id: str) -> set[str]:
    return {
        w
        for (t, w), grant in emulator.state.grants.items()
        if t == type_id and grant.status == "Granted"
    }


@pytest.fixture
def seed(mturk_emulator: MTurkEmulator) -> dict[str, Any]:
    """Two HITs of four workers each, one worker on both; three more known workers."""
    first = mturk_emulator.seed_hit(assignments=4, workers=[worker(n) for n in range(4)])
    second = mturk_emulator.seed_hit(assignments=4, workers=[worker(n) for n in range(3, 7)])
    listed = [worker(n) for n in (20, 21, 22)]
    mturk_emulator.seed_workers(listed)
    return {"hits": [first.hit_id, second.hit_id], "listed": listed}


def test_the_seed_scenario(
    admin: ApiClient, mturk_emulator: MTurkEmulator, seed: dict[str, Any]
) -> None:
    group = put_group(
        admin,
        "deception",
        description="Saw a deception study",
        mturk_qualification_name=QUAL_NAME,
        mode="sandbox",
    )
    type_id = group["binding"]["qualification_type_id"]
    assert group["binding"]["platform"] == "mturk" and group["members"] == 0
    # The same name binds the same type: nothing is created twice.
    again = put_group(admin, "deception", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    assert again["binding"]["qualification_type_id"] == type_id
    assert len(mturk_emulator.state.qualification_types) == 1

    result = change(
        admin,
        "deception",
        add_hit_ids=seed["hits"],
        add_worker_ids=seed["listed"],
        remove_worker_ids=[seed["listed"][0]],
    )
    # Seven distinct HIT workers plus three listed; the one both added and removed stays.
    assert result["added"] == 10 and result["members"] == 10
    assert result["removed"] == 0 and result["kept"] == 1
    assert result["kept_workers"] == [
        {"worker_id": seed["listed"][0], "reason": "added_in_this_request", "sources": ["workers"]}
    ]
    assert result["hits"] == [
        {"hit_id": seed["hits"][0], "workers": 4},
        {"hit_id": seed["hits"][1], "workers": 4},
    ]
    listed = members(admin, "deception")
    assert sorted(listed[worker(3)]) == sorted(f"hit:{h}" for h in seed["hits"])

    status, plan = sync(admin, "deception")
    assert status == 200 and plan["dry_run"] is True
    assert (plan["to_grant"], plan["to_revoke"], plan["holders"]) == (10, 0, 0)
    assert granted(mturk_emulator, type_id) == set()

    status, started = sync(admin, "deception", dry_run=False)
    assert status == 202 and started["state"] == "succeeded", started
    assert started["job"]["counts"]["granted"] == 10
    assert granted(mturk_emulator, type_id) == set(listed)
    # Granted quietly: no worker was sent a message.
    assert all(not g.notified for g in mturk_emulator.state.grants.values())
    assert mturk_emulator.state.messages == []
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 10

    # A re-run grants nothing.
    status, plan = sync(admin, "deception")
    assert (plan["to_grant"], plan["already_granted"]) == (0, 10)
    status, started = sync(admin, "deception", dry_run=False)
    assert started["job"]["counts"]["granted"] == 0 and started["job"]["total"] == 0
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 10


def test_removing_a_hit_keeps_workers_another_source_holds(
    admin: ApiClient, seed: dict[str, Any]
) -> None:
    put_group(admin, "record")
    change(admin, "record", add_hit_ids=seed["hits"], platform="mturk", mode="sandbox")
    result = change(admin, "record", remove_hit_ids=[seed["hits"][0], "3NOSUCHHIT"])
    # Workers 0-2 came only through the first HIT; worker 3 also came through the second.
    assert result["removed"] == 3 and result["kept"] == 1
    assert result["kept_workers"][0]["worker_id"] == worker(3)
    assert result["kept_workers"][0]["reason"] == "other_sources"
    assert result["unmatched_hit_ids"] == ["3NOSUCHHIT"]
    assert sorted(members(admin, "record")) == [worker(n) for n in range(3, 7)]


def test_revoking_needs_asking_and_emails(
    admin: ApiClient, mturk_emulator: MTurkEmulator, seed: dict[str, Any]
) -> None:
    group = put_group(admin, "g", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    type_id = group["binding"]["qualification_type_id"]
    change(admin, "g", add_worker_ids=seed["listed"])
    sync(admin, "g", dry_run=False)
    change(admin, "g", remove_worker_ids=[seed["listed"][1]])

    _, plan = sync(admin, "g")
    assert (plan["to_revoke"], plan["left_alone"]) == (0, 1)
    _, started = sync(admin, "g", dry_run=False)
    assert started["job"]["total"] == 0
    assert seed["listed"][1] in granted(mturk_emulator, type_id)

    _, plan = sync(admin, "g", revoke=True)
    assert (plan["to_revoke"], plan["revoke_sample"]) == (1, [seed["listed"][1]])
    _, started = sync(admin, "g", dry_run=False, revoke=True, reason="Record tidied.")
    assert started["job"]["counts"]["revoked"] == 1
    assert granted(mturk_emulator, type_id) == {seed["listed"][0], seed["listed"][2]}
    revoked = [m for m in mturk_emulator.state.messages if m.kind == "qualification_revoked"]
    assert [(m.worker_id, m.text) for m in revoked] == [(seed["listed"][1], "Record tidied.")]


def test_a_sync_that_died_midway_resumes_without_granting_twice(
    admin: ApiClient, mturk_emulator: MTurkEmulator, seed: dict[str, Any], db: Any
) -> None:
    group = put_group(admin, "g", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    type_id = group["binding"]["qualification_type_id"]
    workers = [worker(100 + n) for n in range(30)]
    mturk_emulator.seed_workers(workers)
    change(admin, "g", add_worker_ids=workers)
    # The 11th grant takes effect on MTurk but its answer never arrives: the job stops
    # with that row unclear, as a process killed mid-call leaves it.
    mturk_emulator.faults.fail_next("AssociateQualificationWithWorker", "drop", after=10)
    _, started = sync(admin, "g", dry_run=False)
    assert started["state"] == "failed", started
    assert started["job"]["counts"]["granted"] == 10
    assert len(granted(mturk_emulator, type_id)) == 11

    _, resumed = sync(admin, "g", dry_run=False)
    assert resumed["resumed"] is True and resumed["job_id"] == started["job_id"]
    assert resumed["state"] == "succeeded", resumed
    counts = resumed["job"]["counts"]
    assert counts["granted"] == 30 and counts["settled_after_restart"] == 1
    assert granted(mturk_emulator, type_id) == set(workers)
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 30


def test_sync_refusals(admin: ApiClient) -> None:
    put_group(admin, "unbound")
    assert_error(admin.post("/exclusions/unbound/sync", json={}), 409, "group_not_bound")
    assert_error(admin.post("/exclusions/nope/sync", json={}), 404, "group_not_found")
    put_group(admin, "live", mturk_qualification_type_id="3LIVEQUALTYPE", mode="live")
    body = assert_error(
        admin.post("/exclusions/live/sync", json={"dry_run": False}),
        422,
        "confirmation_required",
        "confirm",
    )
    assert "live" in body["message"]


def test_hits_require_what_the_study_groups_say(
    admin: ApiClient, mturk_emulator: MTurkEmulator, make_study: Any
) -> None:
    excluded = put_group(admin, "deception", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    required = put_group(admin, "screened", mturk_qualification_name="screened", mode="sandbox")
    put_group(admin, "elsewhere", mturk_qualification_type_id="3LIVEQUALTYPE", mode="live")
    put_group(admin, "local")
    study, _ = make_study(
        platform="mturk",
        exclusion_groups=["deception", "elsewhere", "local"],
        include_groups=["screened"],
    )
    assert study["exclusion_groups"] == ["deception", "elsewhere", "local"]
    assert study["include_groups"] == ["screened"]
    body = {
        "title": "A survey",
        "description": "Questions.",
        "reward": "0.50",
        "assignments": 3,
        "survey_url": "https://survey.example.org/s",
    }
    response = admin.post(f"/studies/{study['slug']}/hits", json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    expected = [
        {
            "qualification_type_id": excluded["binding"]["qualification_type_id"],
            "comparator": "DoesNotExist",
        },
        {
            "qualification_type_id": required["binding"]["qualification_type_id"],
            "comparator": "Exists",
        },
    ]
    assert [
        {k: r[k] for k in ("qualification_type_id", "comparator")} for r in plan["requirements"]
    ] == expected
    # A live-mode binding does not reach sandbox HITs; an unbound group reaches none.
    assert plan["unenforced_groups"] == ["elsewhere", "local"]

    response = admin.post(f"/studies/{study['slug']}/hits", json={**body, "dry_run": False})
    assert response.status_code == 201, response.text
    hit = mturk_emulator.state.hits[response.json()["hits"][0]["hit_id"]]
    assert [
        {"qualification_type_id": r["QualificationTypeId"], "comparator": r["Comparator"]}
        for r in hit.qualification_requirements
    ] == expected


def test_a_resumed_sync_follows_the_group_as_it_is_now(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    group = put_group(admin, "g", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    type_id = group["binding"]["qualification_type_id"]
    workers = [worker(200 + n) for n in range(8)]
    newcomer = worker(300)
    mturk_emulator.seed_workers([*workers, newcomer])
    change(admin, "g", add_worker_ids=workers)
    mturk_emulator.faults.fail_next("AssociateQualificationWithWorker", "error", after=3)
    _, started = sync(admin, "g", dry_run=False)
    assert started["state"] == "failed" and started["job"]["counts"]["granted"] == 3
    # While the job is stopped, one member not yet granted leaves and another joins.
    change(admin, "g", remove_worker_ids=[workers[-1]], add_worker_ids=[newcomer])

    _, resumed = sync(admin, "g", dry_run=False)
    assert resumed["resumed"] is True and resumed["state"] == "succeeded", resumed
    assert resumed["job"]["counts"]["superseded"] == 1
    assert granted(mturk_emulator, type_id) == {*workers[:-1], newcomer}
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 8 + 1


def test_ids_the_platform_would_refuse_are_left_out_not_retried_forever(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    group = put_group(admin, "g", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    mturk_emulator.seed_workers([worker(1)])
    change(admin, "g", add_worker_ids=[worker(1), "5f0c1b2a3d4e5f6a7b8c9d0e", "jane.doe"])
    _, plan = sync(admin, "g")
    assert (plan["to_grant"], plan["foreign_ids"], plan["already_granted"]) == (1, 2, 0)
    _, started = sync(admin, "g", dry_run=False)
    assert started["state"] == "succeeded", started
    assert granted(mturk_emulator, group["binding"]["qualification_type_id"]) == {worker(1)}
