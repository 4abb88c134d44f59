"""Who may call what: admin keys, survey keys, and what one worker's page may learn of another."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from crowdgate.domain.keys import create_admin_key, revoke_admin_key
from sqlalchemy import text

from tests.http import ApiClient, assert_error

#: Every survey endpoint, as (method, path under /studies/{slug}, request arguments).
SURVEY_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/participants/w-1/start", {}),
    ("POST", "/participants/w-1/start", {"json": {}}),
    ("GET", "/participants/w-1/state", {}),
    ("PUT", "/participants/w-1/state", {"json": {"a": 1}}),
    ("PATCH", "/participants/w-1/state", {"json": {"a": 1}}),
    ("POST", "/participants/w-1/complete", {}),
    ("GET", "/codes/verify", {"params": {"code": "ABC123", "worker_id": "w-1"}}),
    ("POST", "/codes/verify", {"json": {"code": "ABC123", "worker_id": "w-1"}}),
    ("GET", "/eligibility", {"params": {"worker_id": "w-1"}}),
]
SURVEY_IDS = [f"{method} {path}" for method, path, _ in SURVEY_CALLS]

#: Admin-only endpoints, as (method, path with {slug}, request arguments).
ADMIN_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/studies", {}),
    ("POST", "/studies", {"json": {"slug": "made-by-a-page", "platform": "none"}}),
    ("GET", "/studies/{slug}", {}),
    ("PATCH", "/studies/{slug}", {"json": {"title": "renamed by a page"}}),
    ("POST", "/studies/{slug}/survey-key", {}),
    ("GET", "/studies/{slug}/participants", {}),
    ("GET", "/studies/{slug}/participants.csv", {}),
    ("GET", "/studies/{slug}/participants/w-1", {}),
]
ADMIN_IDS = [f"{method} {path}" for method, path, _ in ADMIN_CALLS]


# --- missing, wrong and malformed keys -----------------------------------------------------


@pytest.mark.parametrize(("method", "path", "kwargs"), SURVEY_CALLS, ids=SURVEY_IDS)
def test_survey_endpoint_without_a_key_is_401_missing_key(
    make_study, anonymous, method, path, kwargs
):
    study, _ = make_study()
    response = anonymous.request(method, f"/studies/{study['slug']}{path}", **kwargs)
    assert_error(response, 401, "missing_key")


@pytest.mark.parametrize(("method", "path", "kwargs"), ADMIN_CALLS, ids=ADMIN_IDS)
def test_admin_endpoint_without_a_key_is_401_missing_key(
    make_study, anonymous, method, path, kwargs
):
    study, _ = make_study()
    response = anonymous.request(method, path.format(slug=study["slug"]), **kwargs)
    assert_error(response, 401, "missing_key")


def test_wrong_admin_key_is_401_invalid_key(make_study, server, admin_key):
    study, _ = make_study()
    with ApiClient(server.url, admin_key=admin_key + "x") as wrong:
        assert_error(wrong.get("/studies"), 401, "invalid_key")
        assert_error(wrong.get(f"/studies/{study['slug']}"), 401, "invalid_key")
        assert_error(
            wrong.post(f"/studies/{study['slug']}/participants/w-1/start", json={}),
            401,
            "invalid_key",
        )
    with ApiClient(server.url, admin_key="cga_" + "A" * 43) as made_up:
        assert_error(made_up.get("/studies"), 401, "invalid_key")


def test_survey_key_sent_as_admin_bearer_is_401(make_study, server):
    # A survey key is not an admin key whichever header carries it.
    _, page = make_study()
    with ApiClient(server.url, admin_key=page.survey_key) as bearer:
        assert_error(bearer.get("/studies"), 401, "invalid_key")


def test_wrong_survey_key_is_401_invalid_key(make_study, server):
    study, page = make_study()
    with ApiClient(server.url, survey_key=page.survey_key + "x") as wrong:
        response = wrong.post(f"/studies/{study['slug']}/participants/w-1/start", json={})
        assert_error(response, 401, "invalid_key")


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Token cga_something",
        "cga_without_a_scheme",
    ],
)
def test_malformed_authorization_header_is_401(make_study, server, admin_key, header):
    study, page = make_study()
    with ApiClient(server.url) as client:
        response = client.get("/studies", headers={"Authorization": header})
        assert_error(response, 401, "bad_authorization")
        # A malformed admin header is refused even when a valid survey key rides along.
        survey = client.post(
            f"/studies/{study['slug']}/participants/w-1/start",
            json={},
            headers={"Authorization": header, "X-Survey-Key": page.survey_key},
        )
        assert_error(survey, 401, "bad_authorization")


def test_revoked_admin_key_is_401_invalid_key(db, server):
    with db.write() as session:
        key = create_admin_key(session, name="to revoke", now=datetime.now(UTC))
    with ApiClient(server.url, admin_key=key) as client:
        assert client.get("/studies").status_code == 200
        with db.write() as session:
            revoke_admin_key(session, key[:10], now=datetime.now(UTC))
        assert_error(client.get("/studies"), 401, "invalid_key")


# --- a survey key reaches only its own study's survey endpoints ----------------------------


@pytest.mark.parametrize(("method", "path", "kwargs"), SURVEY_CALLS, ids=SURVEY_IDS)
def test_survey_key_of_another_study_is_403_wrong_study(make_study, method, path, kwargs):
    _, page_a = make_study()
    study_b, page_b = make_study()
    assert page_b.post(f"/studies/{study_b['slug']}/participants/w-1/start").status_code == 200
    response = page_a.request(method, f"/studies/{study_b['slug']}{path}", **kwargs)
    assert_error(response, 403, "wrong_study")
    # Nothing was done to study B's participant on A's key.
    assert page_b.get(f"/studies/{study_b['slug']}/participants/w-1/state").json() == {}


@pytest.mark.parametrize(("method", "path", "kwargs"), SURVEY_CALLS, ids=SURVEY_IDS)
def test_survey_key_on_a_missing_study_is_403_not_404(make_study, method, path, kwargs):
    # A 404 here would tell a survey key which other studies exist.
    _, page_a = make_study()
    response = page_a.request(method, f"/studies/no-such-study{path}", **kwargs)
    existing_b, _ = make_study()
    other = page_a.request(method, f"/studies/{existing_b['slug']}{path}", **kwargs)
    missing = assert_error(response, 403, "wrong_study")
    existing = assert_error(other, 403, "wrong_study")
    assert missing["message"] == existing["message"]


def test_preflight_does_not_reveal_whether_a_study_exists(make_study, anonymous):
    study, _ = make_study(allowed_origins=["https://survey.example.org"])
    headers = {"Origin": "https://elsewhere.example.com", "Access-Control-Request-Method": "POST"}
    existing = anonymous.options(
        f"/studies/{study['slug']}/participants/w-1/start", headers=headers
    )
    missing = anonymous.options("/studies/no-such-study/participants/w-1/start", headers=headers)
    assert_error(existing, 403, "origin_not_allowed")
    assert (missing.status_code, missing.json()["error"]) == (403, "origin_not_allowed")


@pytest.mark.parametrize(("method", "path", "kwargs"), ADMIN_CALLS, ids=ADMIN_IDS)
def test_survey_key_on_admin_endpoints_is_403_admin_key_required(
    make_study, admin, method, path, kwargs
):
    study, page = make_study(title="original")
    page.post(f"/studies/{study['slug']}/participants/w-1/start")
    response = page.request(method, path.format(slug=study["slug"]), **kwargs)
    assert_error(response, 403, "admin_key_required")
    # The refused call changed nothing: no study made, title and survey key kept.
    assert_error(admin.get("/studies/made-by-a-page"), 404, "study_not_found")
    assert admin.get(f"/studies/{study['slug']}").json()["title"] == "original"
    assert page.get(f"/studies/{study['slug']}/participants/w-1/state").status_code == 200


def test_survey_key_on_another_studys_admin_endpoints_is_403(make_study):
    _, page_a = make_study()
    study_b, _ = make_study()
    for path in ("", "/participants", "/participants.csv"):
        response = page_a.get(f"/studies/{study_b['slug']}{path}")
        assert_error(response, 403, "admin_key_required")


def test_admin_key_works_on_survey_endpoints(make_study, admin):
    study, _ = make_study()
    base = f"/studies/{study['slug']}"
    assert admin.get(f"{base}/eligibility", params={"worker_id": "w-1"}).json()["eligible"]
    started = admin.post(f"{base}/participants/w-1/start", json={"assignment_id": "a-1"})
    assert started.status_code == 200, started.text
    assert started.json()["worker_id"] == "w-1"
    assert admin.get(f"{base}/participants/w-1/start").json()["resumed"] is True
    assert admin.put(f"{base}/participants/w-1/state", json={"a": 1}).json() == {"a": 1}
    assert admin.patch(f"{base}/participants/w-1/state", json={"b": 2}).json() == {"a": 1, "b": 2}
    assert admin.get(f"{base}/participants/w-1/state").json() == {"a": 1, "b": 2}
    code = admin.post(f"{base}/participants/w-1/complete").json()["completion_code"]
    verified = admin.get(f"{base}/codes/verify", params={"code": code}).json()
    assert verified["valid"] is True and verified["worker_id"] == "w-1"
    assert admin.post(f"{base}/codes/verify", json={"code": code}).json()["valid"] is True


def test_admin_key_on_a_missing_studys_survey_endpoint_is_404(admin):
    response = admin.post("/studies/no-such-study/participants/w-1/start", json={})
    assert_error(response, 404, "study_not_found")


# --- where a survey key may travel ----------------------------------------------------------


def test_survey_key_as_x_survey_key_header(make_study, anonymous):
    study, page = make_study()
    response = anonymous.post(
        f"/studies/{study['slug']}/participants/w-1/start",
        json={},
        headers={"X-Survey-Key": page.survey_key},
    )
    assert response.status_code == 200, response.text
    assert response.json()["worker_id"] == "w-1"


def test_survey_key_as_key_query_parameter(make_study, anonymous):
    study, page = make_study()
    base = f"/studies/{study['slug']}/participants/w-1"
    key = {"key": page.survey_key}
    started = anonymous.get(f"{base}/start", params=key)
    assert started.status_code == 200, started.text
    assert anonymous.put(f"{base}/state", params=key, json={"a": 1}).json() == {"a": 1}
    state = anonymous.get(f"{base}/state", params=key)
    assert state.json() == {"a": 1}, "the key must not end up in the state"
    eligibility = anonymous.get(
        f"/studies/{study['slug']}/eligibility", params={**key, "worker_id": "w-2"}
    )
    assert eligibility.json()["eligible"] is True


def test_survey_key_as_key_form_field(make_study, anonymous):
    study, page = make_study()
    base = f"/studies/{study['slug']}/participants/w-1"
    started = anonymous.post(f"{base}/start", data={"key": page.survey_key, "assignment_id": "a-1"})
    assert started.status_code == 200, started.text
    assert started.json()["assignment_id"] == "a-1"
    saved = anonymous.put(f"{base}/state", data={"key": page.survey_key, "answer": "yes"})
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"answer": "yes"}, "the key must not end up in the state"
    completed = anonymous.post(f"{base}/complete", data={"key": page.survey_key})
    assert completed.status_code == 200, completed.text


def test_wrong_survey_key_in_query_or_form_is_401(make_study, anonymous):
    study, page = make_study()
    url = f"/studies/{study['slug']}/participants/w-1/start"
    assert_error(anonymous.get(url, params={"key": "cgs_wrong"}), 401, "invalid_key")
    assert_error(anonymous.post(url, data={"key": "cgs_wrong"}), 401, "invalid_key")


# --- rotation and storage of keys -----------------------------------------------------------


def test_rotating_the_survey_key_retires_the_old_one(make_study, admin, server):
    study, old_page = make_study()
    base = f"/studies/{study['slug']}/participants/w-1"
    assert old_page.post(f"{base}/start").status_code == 200

    rotated = admin.post(f"/studies/{study['slug']}/survey-key")
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["survey_key"]
    assert rotated.json()["slug"] == study["slug"]
    assert new_key and new_key != old_page.survey_key

    assert_error(old_page.get(f"{base}/state"), 401, "invalid_key")
    assert_error(old_page.post(f"{base}/start"), 401, "invalid_key")
    with ApiClient(server.url, survey_key=new_key) as new_page:
        assert new_page.get(f"{base}/state").status_code == 200
        resumed = new_page.post(f"{base}/start")
        assert resumed.status_code == 200 and resumed.json()["resumed"] is True
    # The new key is not shown again: the study as read carries no key.
    assert "survey_key" not in admin.get(f"/studies/{study['slug']}").json()


def test_admin_key_is_stored_hashed(db, server):
    with db.write() as session:
        key = create_admin_key(session, name="hashed", now=datetime.now(UTC))
    with db.read() as session:
        rows = session.execute(text("SELECT * FROM admin_keys WHERE name = 'hashed'")).all()
    assert len(rows) == 1
    stored = [str(value) for value in rows[0]]
    assert not any(key in value for value in stored), stored
    # ... and yet the key is recognised.
    with ApiClient(server.url, admin_key=key) as client:
        assert client.get("/studies").status_code == 200


def test_survey_key_is_not_stored_in_the_clear(make_study, db):
    study, page = make_study()
    with db.read() as session:
        rows = session.execute(
            text("SELECT * FROM studies WHERE slug = :slug"), {"slug": study["slug"]}
        ).all()
    assert len(rows) == 1
    assert not any(page.survey_key in str(value) for value in rows[0])


# --- what one worker's page may learn of another worker -------------------------------------


@pytest.fixture
def two_workers(make_study):
    """A study where worker A has started and worker B has completed; returns their data."""
    study, page = make_study(conditions=[{"name": "control", "target": 5}])
    base = f"/studies/{study['slug']}/participants"
    page.post(f"{base}/worker-a/start", json={"assignment_id": "assign-a"})
    page.post(f"{base}/worker-b/start", json={"assignment_id": "assign-b", "hit_id": "hit-b"})
    page.put(f"{base}/worker-b/state", json={"secret_answer": "b-private"})
    code_b = page.post(f"{base}/worker-b/complete").json()["completion_code"]
    return study, page, code_b


def test_state_is_addressed_by_worker_path(two_workers):
    study, page, _ = two_workers
    base = f"/studies/{study['slug']}/participants"
    assert page.get(f"{base}/worker-b/state").json() == {"secret_answer": "b-private"}
    assert page.get(f"{base}/worker-a/state").json() == {}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_verify_with_another_workers_code_says_no_match_and_nothing_more(two_workers, method):
    study, page, code_b = two_workers
    args = {"code": code_b, "worker_id": "worker-a"}
    kwargs = {"params": args} if method == "GET" else {"json": args}
    response = page.request(method, f"/studies/{study['slug']}/codes/verify", **kwargs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is False
    assert body["reason"] == "no_match"
    assert "worker-b" not in response.text
    assert code_b not in response.text.upper()
    assert code_b.lower() not in response.text.lower()

    # Indistinguishable from a code nobody holds: a page cannot probe for codes.
    unknown_args = {**args, "code": "ZZZZ9999"}
    kwargs = {"params": unknown_args} if method == "GET" else {"json": unknown_args}
    unknown = page.request(method, f"/studies/{study['slug']}/codes/verify", **kwargs)
    assert unknown.json() == body


def test_verify_own_code_is_valid_for_the_page(two_workers):
    study, page, code_b = two_workers
    response = page.get(
        f"/studies/{study['slug']}/codes/verify", params={"code": code_b, "worker_id": "worker-b"}
    )
    assert response.json() == {"valid": True, "worker_id": "worker-b"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_verify_without_worker_id_on_a_survey_key_is_422(two_workers, method):
    study, page, code_b = two_workers
    kwargs = {"params": {"code": code_b}} if method == "GET" else {"json": {"code": code_b}}
    response = page.request(method, f"/studies/{study['slug']}/codes/verify", **kwargs)
    body = assert_error(response, 422, "validation_error", field="worker_id")
    assert "worker-b" not in response.text
    assert body["fields"].keys() == {"worker_id"}


def test_admin_verify_names_the_codes_worker(two_workers, admin):
    # The contrast to the page's answer: an admin may learn whose code it is.
    study, _, code_b = two_workers
    body = admin.get(
        f"/studies/{study['slug']}/codes/verify", params={"code": code_b, "worker_id": "worker-a"}
    ).json()
    assert body["valid"] is False
    assert body["code_worker_id"] == "worker-b"


@pytest.mark.parametrize(
    ("worker_id", "assignment_id", "eligible", "reason"),
    [
        ("worker-new", None, True, "new"),
        ("worker-a", "assign-a", True, "resume"),
        ("worker-b", "assign-other", False, "already_participated"),
    ],
)
def test_eligibility_carries_no_other_workers_data(
    two_workers, worker_id, assignment_id, eligible, reason
):
    study, page, code_b = two_workers
    params = {"worker_id": worker_id}
    if assignment_id:
        params["assignment_id"] = assignment_id
    response = page.get(f"/studies/{study['slug']}/eligibility", params=params)
    assert response.status_code == 200, response.text
    assert response.json() == {"worker_id": worker_id, "eligible": eligible, "reason": reason}
    others = {"worker-a", "worker-b", "assign-a", "assign-b", "hit-b", "b-private", code_b}
    others -= {worker_id, assignment_id}
    assert not [value for value in others if value in response.text]


def test_start_response_carries_only_the_callers_data(two_workers):
    study, page, code_b = two_workers
    response = page.post(f"/studies/{study['slug']}/participants/worker-c/start", json={})
    assert response.status_code == 200, response.text
    assert response.json()["worker_id"] == "worker-c"
    for value in ("worker-a", "worker-b", "assign-a", "assign-b", "hit-b", "b-private", code_b):
        assert value not in response.text
