"""Qualification types over HTTP, against the MTurk emulator, on both databases: create or
reuse, grant with a value (not notifying), list every holder, revoke with a reason, the
live-mode confirmation, and failures as clear 4xx answers or per-worker outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator
from crowdgate_client import Client, ConflictError, NotFoundError, ValidationError

from tests.http import ApiClient, assert_error

WORKERS = ["AWORKER0001", "AWORKER0002", "AWORKER0003"]
ON_MTURK = {"platform": "mturk", "mode": "sandbox"}


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    # One attempt per MTurk call, so an injected fault reaches crowdgate instead of
    # being retried away inside botocore.
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
    }


def create_type(admin: ApiClient, name: str = "earlier participants", **fields: Any) -> Any:
    body = {**ON_MTURK, "name": name, "description": "Took part in an earlier study", **fields}
    return admin.post("/qualifications", json=body)


@pytest.fixture
def type_id(admin: ApiClient) -> str:
    response = create_type(admin)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def grant(admin: ApiClient, type_id: str, workers: list[str], **fields: Any) -> Any:
    body = {**ON_MTURK, "worker_ids": workers, **fields}
    return admin.post(f"/qualifications/{type_id}/grants", json=body)


def revoke(admin: ApiClient, type_id: str, workers: list[str], **fields: Any) -> Any:
    body = {**ON_MTURK, "worker_ids": workers, "reason": "Reset for the next wave", **fields}
    return admin.post(f"/qualifications/{type_id}/revocations", json=body)


def holders(admin: ApiClient, type_id: str, **params: str) -> dict[str, Any]:
    response = admin.get(f"/qualifications/{type_id}/workers", params={**ON_MTURK, **params})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def granted_in_emulator(emulator: MTurkEmulator, type_id: str) -> dict[str, Any]:
    return {
        worker: grant
        for (kind, worker), grant in emulator.state.grants.items()
        if kind == type_id and grant.status == "Granted"
    }


# --- creating a type -------------------------------------------------------------------


def test_create_then_reuse_by_exact_name(admin: ApiClient, mturk_emulator: MTurkEmulator) -> None:
    first = create_type(admin)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made == {
        "id": made["id"],
        "name": "earlier participants",
        "description": "Took part in an earlier study",
        "platform": "mturk",
        "mode": "sandbox",
        "created": True,
    }
    again = create_type(admin, description="another description")
    assert again.status_code == 200, again.text
    assert again.json() == {**made, "created": False}
    # A name that merely contains the other is a different type.
    longer = create_type(admin, name="earlier participants 2")
    assert longer.status_code == 201 and longer.json()["id"] != made["id"]
    assert len(mturk_emulator.state.qualification_types) == 2

    refused = create_type(admin, reuse_existing=False)
    body = assert_error(refused, 409, "qualification_type_exists", "name")
    assert body["qualification_type_id"] == made["id"] and made["id"] in body["message"]
    assert len(mturk_emulator.state.qualification_types) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"platform": None}, "platform"),
        ({"platform": "crowdflower"}, "platform"),
        ({"mode": None}, "mode"),
        ({"mode": "production"}, "mode"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"description": None}, "description"),
        ({"description": ""}, "description"),
        ({"reuse_existing": "sometimes"}, "reuse_existing"),
        ({"notfy": True}, "notfy"),
    ],
)
def test_create_refuses_bad_fields_by_name(
    admin: ApiClient, mturk_emulator: MTurkEmulator, change: dict[str, Any], field: str
) -> None:
    body = {**ON_MTURK, "name": "n", "description": "d", **change}
    body = {key: value for key, value in body.items() if value is not None}
    assert_error(admin.post("/qualifications", json=body), 422, "validation_error", field)
    assert mturk_emulator.faults.calls["CreateQualificationType"] == 0


def test_platforms_without_qualifications_say_so(admin: ApiClient) -> None:
    response = create_type(admin, platform="none")
    assert_error(response, 409, "not_supported_by_platform")
    grants = admin.post(
        "/qualifications/3TYPE/grants",
        json={"platform": "none", "mode": "sandbox", "worker_ids": ["5f0c1e2d3b4a596877665544"]},
    )
    assert_error(grants, 409, "not_supported_by_platform")
    # Prolific's participant groups stand in for qualifications, once it has a token.
    body = assert_error(
        create_type(admin, platform="prolific"), 502, "platform_credentials_missing"
    )
    assert "CROWDGATE_PROLIFIC_TOKEN" in body["message"]


def test_admin_key_only(admin: ApiClient, anonymous: ApiClient, make_study: Any) -> None:
    _, page = make_study()
    for caller, status, error in (
        (anonymous, 401, "missing_key"),
        (page, 403, "admin_key_required"),
    ):
        assert_error(create_type(caller), status, error)
        assert_error(grant(caller, "3TYPE", WORKERS), status, error)
        assert_error(revoke(caller, "3TYPE", WORKERS), status, error)
        listed = caller.get("/qualifications/3TYPE/workers", params=ON_MTURK)
        assert_error(listed, status, error)


# --- granting and listing ----------------------------------------------------------------


def test_grant_with_a_value_and_without_notifying(
    admin: ApiClient, type_id: str, mturk_emulator: MTurkEmulator
) -> None:
    response = grant(admin, type_id, WORKERS, value=5)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "results": [{"worker_id": w, "outcome": "granted"} for w in WORKERS],
        "granted": 3,
        "failed": 0,
    }
    stored = granted_in_emulator(mturk_emulator, type_id)
    assert sorted(stored) == WORKERS
    assert {g.value for g in stored.values()} == {5}
    assert not any(g.notified for g in stored.values())
    assert mturk_emulator.state.messages == []  # nobody was e-mailed

    listed = holders(admin, type_id)
    assert listed["count"] == 3
    assert sorted(item["worker_id"] for item in listed["items"]) == WORKERS
    assert {item["value"] for item in listed["items"]} == {5}
    assert all(item["granted_at"] for item in listed["items"])

    # Granting again sets the new value; notify: true has MTurk tell the worker.
    again = grant(admin, type_id, WORKERS[:1], value=9, notify=True)
    assert again.json()["granted"] == 1
    assert granted_in_emulator(mturk_emulator, type_id)[WORKERS[0]].value == 9
    assert [(m.worker_id, m.kind) for m in mturk_emulator.state.messages] == [
        (WORKERS[0], "qualification_granted")
    ]


def test_listing_reads_every_page(
    admin: ApiClient, type_id: str, mturk_emulator: MTurkEmulator
) -> None:
    workers = [f"AW{n:06d}" for n in range(250)]
    for start in range(0, 250, 100):
        assert grant(admin, type_id, workers[start : start + 100]).json()["granted"] == len(
            workers[start : start + 100]
        )
    mturk_emulator.faults.calls.clear()
    listed = holders(admin, type_id)
    assert listed["count"] == 250
    assert sorted(item["worker_id"] for item in listed["items"]) == workers
    assert mturk_emulator.faults.calls["ListWorkersWithQualificationType"] == 3


def test_listing_needs_platform_and_mode(admin: ApiClient, type_id: str) -> None:
    path = f"/qualifications/{type_id}/workers"
    assert_error(admin.get(path, params={"platform": "mturk"}), 422, "validation_error", "mode")
    no_platform = admin.get(path, params={"mode": "sandbox"})
    assert_error(no_platform, 422, "validation_error", "platform")
    nowhere = admin.get(path, params={"platform": "none", "mode": "sandbox"})
    assert_error(nowhere, 409, "not_supported_by_platform")


@pytest.mark.parametrize(
    ("workers", "field"),
    [
        (["AWORKER0001", "not-an-mturk-id"], "worker_ids.1"),
        (["aworker0001"], "worker_ids.0"),
        ([], "worker_ids"),
        (["AWORKER0001", "AWORKER0001"], "worker_ids"),
        ([f"AW{n:06d}" for n in range(101)], "worker_ids"),
        ("AWORKER0001", "worker_ids"),
    ],
)
def test_bad_worker_ids_refuse_the_whole_request(
    admin: ApiClient, type_id: str, mturk_emulator: MTurkEmulator, workers: Any, field: str
) -> None:
    for response in (grant(admin, type_id, workers), revoke(admin, type_id, workers)):
        assert response.status_code == 422, response.text
        assert field in response.json()["fields"], response.json()
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 0
    assert mturk_emulator.faults.calls["DisassociateQualificationFromWorker"] == 0


def test_an_invalid_worker_id_is_named_with_the_platform_rule(
    admin: ApiClient, type_id: str
) -> None:
    response = grant(admin, type_id, ["AWORKER0001", "bad id", "AOK2", "also bad"])
    body = assert_error(response, 422, "invalid_worker_id", "worker_ids.1")
    assert set(body["fields"]) == {"worker_ids.1", "worker_ids.3"}
    assert "'bad id'" in body["message"] and "and 1 more" in body["message"]
    assert "mturk worker id" in body["fields"]["worker_ids.1"][0]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": "5"}, "value"),
        ({"value": 1.5}, "value"),
        ({"value": 2**31}, "value"),
        ({"notify": "sometimes"}, "notify"),
        ({"mode": None}, "mode"),
    ],
)
def test_grant_refuses_bad_fields_by_name(
    admin: ApiClient, type_id: str, change: dict[str, Any], field: str
) -> None:
    body = {**ON_MTURK, "worker_ids": WORKERS, **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = admin.post(f"/qualifications/{type_id}/grants", json=body)
    assert_error(response, 422, "validation_error", field)


def test_an_unknown_type_is_one_clear_404_and_nobody_is_touched(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    for response in (
        grant(admin, "3NOSUCHTYPE", WORKERS),
        revoke(admin, "3NOSUCHTYPE", WORKERS),
        admin.get("/qualifications/3NOSUCHTYPE/workers", params=ON_MTURK),
    ):
        body = assert_error(response, 404, "qualification_type_not_found", "type_id")
        assert "3NOSUCHTYPE" in body["message"]
        assert body["platform"] == "mturk"
        assert body["platform_code"] == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 0
    assert mturk_emulator.faults.calls["DisassociateQualificationFromWorker"] == 0
    # Not even an id: refused before MTurk is asked.
    calls = sum(mturk_emulator.faults.calls.values())
    malformed = admin.get("/qualifications/not-an-id/workers", params=ON_MTURK)
    assert_error(malformed, 422, "validation_error", "type_id")
    assert sum(mturk_emulator.faults.calls.values()) == calls


def test_a_throttled_or_failed_call_is_that_workers_outcome(
    admin: ApiClient, type_id: str, mturk_emulator: MTurkEmulator
) -> None:
    mturk_emulator.faults.fail_next("AssociateQualificationWithWorker", "throttle")
    response = grant(admin, type_id, WORKERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["granted"], body["failed"]) == (2, 1)
    first, *rest = body["results"]
    assert first["worker_id"] == WORKERS[0] and first["outcome"] == "failed"
    assert first["error"]["code"] == "platform_unavailable"
    assert first["error"]["retryable"] is True
    assert "AssociateQualificationWithWorker" in first["error"]["message"]
    assert rest == [{"worker_id": w, "outcome": "granted"} for w in WORKERS[1:]]
    assert sorted(granted_in_emulator(mturk_emulator, type_id)) == WORKERS[1:]

    # A 5xx in the middle of a revocation: the workers before and after are revoked.
    mturk_emulator.faults.fail_next("DisassociateQualificationFromWorker", "error")
    revoked = revoke(admin, type_id, WORKERS[1:]).json()
    assert [r["outcome"] for r in revoked["results"]] == ["failed", "revoked"]
    assert revoked["results"][0]["error"]["code"] == "platform_unavailable"
    assert revoked["results"][0]["error"]["platform_code"]
    assert (revoked["revoked"], revoked["failed"]) == (1, 1)
    assert sorted(granted_in_emulator(mturk_emulator, type_id)) == [WORKERS[1]]


# --- revoking --------------------------------------------------------------------------------


def test_revoke_with_a_reason(
    admin: ApiClient, type_id: str, mturk_emulator: MTurkEmulator
) -> None:
    grant(admin, type_id, WORKERS[:2])
    response = revoke(admin, type_id, WORKERS, reason="You may take part again")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["outcome"] for r in body["results"]] == ["revoked", "revoked", "failed"]
    assert (body["revoked"], body["failed"]) == (2, 1)
    # The third never held it: MTurk's own refusal, for that worker only.
    error = body["results"][2]["error"]
    assert error["code"] == "platform_rejected" and error["retryable"] is False
    assert error["platform_code"] == "AWS.MechanicalTurk.QualificationDoesNotExist"
    assert WORKERS[2] in error["message"]

    assert granted_in_emulator(mturk_emulator, type_id) == {}
    assert holders(admin, type_id) == {"items": [], "count": 0}
    assert [(m.worker_id, m.kind, m.text) for m in mturk_emulator.state.messages] == [
        (w, "qualification_revoked", "You may take part again") for w in WORKERS[:2]
    ]


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 1025])
def test_revoke_needs_a_reason(
    admin: ApiClient, type_id: str, mturk_emulator: MTurkEmulator, reason: str | None
) -> None:
    body = {**ON_MTURK, "worker_ids": WORKERS, "reason": reason}
    body = {key: value for key, value in body.items() if value is not None}
    response = admin.post(f"/qualifications/{type_id}/revocations", json=body)
    assert_error(response, 422, "validation_error", "reason")
    assert mturk_emulator.faults.calls["DisassociateQualificationFromWorker"] == 0


def test_live_revocations_need_confirm_live(
    admin: ApiClient, mturk_emulator: MTurkEmulator
) -> None:
    live = {"platform": "mturk", "mode": "live"}
    made = create_type(admin, **live).json()
    grant(admin, made["id"], WORKERS[:1], **live)
    for confirm in (None, "yes", "LIVE", "sandbox"):
        extra = {} if confirm is None else {"confirm": confirm}
        response = revoke(admin, made["id"], WORKERS[:1], **live, **extra)
        body = assert_error(response, 422, "confirmation_required", "confirm")
        assert "e-mail" in body["message"]
    assert mturk_emulator.faults.calls["DisassociateQualificationFromWorker"] == 0
    assert mturk_emulator.state.messages == []

    done = revoke(admin, made["id"], WORKERS[:1], confirm="live", **live)
    assert done.status_code == 200, done.text
    assert done.json()["revoked"] == 1
    # Sandbox revocations need no confirmation.
    sandbox = create_type(admin, name="sandbox type").json()
    grant(admin, sandbox["id"], WORKERS[:1])
    assert revoke(admin, sandbox["id"], WORKERS[:1]).json()["revoked"] == 1


# --- the SDK ---------------------------------------------------------------------------------


def test_the_sdk_end_to_end(server: Any, admin_key: str, mturk_emulator: MTurkEmulator) -> None:
    with Client(server.url, admin_key, retries=0) as cg:
        made = cg.create_qualification_type("repeaters", "Took part before")
        assert made.created and made.platform == "mturk" and made.mode == "sandbox"
        assert cg.create_qualification_type("repeaters", "Took part before") == made.__class__(
            id=made.id,
            name="repeaters",
            description="Took part before",
            platform="mturk",
            mode="sandbox",
            created=False,
        )
        with pytest.raises(ConflictError) as taken:
            cg.create_qualification_type("repeaters", "again", reuse_existing=False)
        assert "name" in taken.value.fields

        grants = cg.grant_qualification(made.id, WORKERS, value=3)
        assert grants.granted == 3 and grants.failed == 0 and grants.failures == ()
        holding = cg.qualified_workers(made.id)
        assert sorted((w.worker_id, w.value) for w in holding) == [(w, 3) for w in WORKERS]
        assert all(w.granted_at is not None for w in holding)

        revoked = cg.revoke_qualification(made.id, [WORKERS[0], "ANEVERGRANTED"], reason="Reset")
        assert revoked.revoked == 1 and revoked.failed == 1
        [failure] = revoked.failures
        assert failure.worker_id == "ANEVERGRANTED" and failure.error is not None
        assert failure.error.platform_code == "AWS.MechanicalTurk.QualificationDoesNotExist"

        with pytest.raises(NotFoundError):
            cg.qualified_workers("3NOSUCHTYPE")
        with pytest.raises(ValidationError) as bad:
            cg.grant_qualification(made.id, ["not a worker"])
        assert "worker_ids.0" in bad.value.fields
        with pytest.raises(ValidationError) as unconfirmed:
            cg.revoke_qualification(made.id, WORKERS[1:], reason="Reset", mode="live")
        assert "confirm" in unconfirmed.value.fields
        with pytest.raises(TypeError):
            cg.grant_qualification(made.id, "AWORKER0001")
