"""CORS on survey endpoints: each study answers only the origins it lists."""

from __future__ import annotations

import pytest

from tests.http import assert_error

ALLOWED = "https://survey.example.org"
OTHER = "https://evil.example.com"
ACAO = "Access-Control-Allow-Origin"


def _tokens(header: str | None) -> set[str]:
    return {token.strip().lower() for token in (header or "").split(",") if token.strip()}


def _preflight(client, path: str, origin: str, method: str = "POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, x-survey-key",
        },
    )


@pytest.fixture
def study_page(make_study):
    return make_study(allowed_origins=[ALLOWED])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/participants/w-1/start"),
        ("GET", "/participants/w-1/start"),
        ("PUT", "/participants/w-1/state"),
        ("PATCH", "/participants/w-1/state"),
        ("POST", "/participants/w-1/complete"),
        ("GET", "/codes/verify"),
        ("GET", "/eligibility"),
    ],
)
def test_preflight_from_an_allowed_origin(study_page, anonymous, method, path):
    study, _ = study_page
    response = _preflight(anonymous, f"/studies/{study['slug']}{path}", ALLOWED, method)
    assert response.status_code == 204, response.text
    assert response.headers[ACAO] == ALLOWED
    assert {"get", "post", "put", "patch"} <= _tokens(
        response.headers.get("Access-Control-Allow-Methods")
    )
    allowed_headers = _tokens(response.headers.get("Access-Control-Allow-Headers"))
    assert {"x-survey-key", "content-type"} <= allowed_headers
    assert "origin" in _tokens(response.headers.get("Vary"))


def test_actual_request_from_an_allowed_origin_carries_acao(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    started = page.post(f"{base}/start", json={"assignment_id": "a-1"}, headers={"Origin": ALLOWED})
    assert started.status_code == 200, started.text
    assert started.headers[ACAO] == ALLOWED
    assert "origin" in _tokens(started.headers.get("Vary"))
    # The page may read the request id it is shown in errors.
    assert "x-request-id" in _tokens(started.headers.get("Access-Control-Expose-Headers"))

    for response in (
        page.patch(f"{base}/state", json={"a": 1}, headers={"Origin": ALLOWED}),
        page.get(f"{base}/state", headers={"Origin": ALLOWED}),
        page.post(f"{base}/complete", headers={"Origin": ALLOWED}),
        page.get(
            f"/studies/{study['slug']}/eligibility",
            params={"worker_id": "w-2"},
            headers={"Origin": ALLOWED},
        ),
    ):
        assert response.status_code == 200, response.text
        assert response.headers[ACAO] == ALLOWED


def test_error_response_to_an_allowed_origin_carries_acao(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start", json={"assignment_id": "a-1"})
    conflict = page.post(
        f"{base}/start", json={"assignment_id": "a-2"}, headers={"Origin": ALLOWED}
    )
    assert_error(conflict, 409, "already_participated")
    assert conflict.headers[ACAO] == ALLOWED

    not_started = page.get(
        f"/studies/{study['slug']}/participants/w-9/state", headers={"Origin": ALLOWED}
    )
    assert_error(not_started, 404, "participant_not_found")
    assert not_started.headers[ACAO] == ALLOWED


def test_validation_error_to_an_allowed_origin_carries_acao(study_page):
    study, page = study_page
    response = page.post(
        f"/studies/{study['slug']}/participants/w-1/start",
        json={"assignment_id": "a" * 129},
        headers={"Origin": ALLOWED},
    )
    assert_error(response, 422, "validation_error", field="assignment_id")
    assert response.headers.get(ACAO) == ALLOWED


def test_preflight_from_another_origin_is_403(study_page, anonymous):
    study, _ = study_page
    response = _preflight(anonymous, f"/studies/{study['slug']}/participants/w-1/start", OTHER)
    assert_error(response, 403, "origin_not_allowed")
    assert ACAO not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        OTHER,
        "http://survey.example.org",  # same host, other scheme
        "https://survey.example.org:8443",  # same host, other port
        "https://sub.survey.example.org",
        "https://survey.example.org.evil.example.com",
        "null",  # a sandboxed iframe or a file:// page
    ],
)
def test_actual_request_from_another_origin_is_403(study_page, admin, origin):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    response = page.post(f"{base}/start", json={}, headers={"Origin": origin})
    assert_error(response, 403, "origin_not_allowed")
    assert ACAO not in response.headers
    # Refused before anything was done.
    assert admin.get(f"/studies/{study['slug']}/participants").json()["items"] == []


def test_other_origin_is_refused_on_every_survey_endpoint(study_page):
    study, page = study_page
    slug = study["slug"]
    base = f"/studies/{slug}/participants/w-1"
    page.post(f"{base}/start")
    page.put(f"{base}/state", json={"a": 1})
    headers = {"Origin": OTHER}
    for response in (
        page.get(f"{base}/start", headers=headers),
        page.get(f"{base}/state", headers=headers),
        page.put(f"{base}/state", json={"b": 2}, headers=headers),
        page.patch(f"{base}/state", json={"b": 2}, headers=headers),
        page.post(f"{base}/complete", headers=headers),
        page.get(
            f"/studies/{slug}/codes/verify",
            params={"code": "X", "worker_id": "w-1"},
            headers=headers,
        ),
        page.get(f"/studies/{slug}/eligibility", params={"worker_id": "w-1"}, headers=headers),
    ):
        assert_error(response, 403, "origin_not_allowed")
        assert ACAO not in response.headers
    assert page.get(f"{base}/state").json() == {"a": 1}
    assert page.post(f"{base}/start").json()["status"] == "started"


def test_request_without_origin_is_served(study_page):
    # Qualtrics' Web Service element calls from its servers, scripts from a terminal.
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    started = page.get(f"{base}/start", params={"assignment_id": "a-1"})
    assert started.status_code == 200, started.text
    assert ACAO not in started.headers
    assert page.post(f"{base}/complete").status_code == 200


def test_study_without_allowed_origins_refuses_browser_calls(make_study, anonymous):
    study, page = make_study()
    url = f"/studies/{study['slug']}/participants/w-1/start"
    assert_error(page.post(url, headers={"Origin": ALLOWED}), 403, "origin_not_allowed")
    assert_error(_preflight(anonymous, url, ALLOWED), 403, "origin_not_allowed")
    assert page.post(url).status_code == 200


def test_star_admits_any_origin(make_study, anonymous):
    study, page = make_study(allowed_origins=["*"])
    url = f"/studies/{study['slug']}/participants/w-1/start"
    for origin in (ALLOWED, OTHER, "http://localhost:8000"):
        preflight = _preflight(anonymous, url, origin)
        assert preflight.status_code == 204, preflight.text
        assert preflight.headers[ACAO] in (origin, "*")
        actual = page.post(url, json={}, headers={"Origin": origin})
        assert actual.status_code == 200, actual.text
        assert actual.headers[ACAO] in (origin, "*")


def test_origins_are_per_study(make_study, anonymous):
    study_a, page_a = make_study(allowed_origins=[ALLOWED])
    study_b, page_b = make_study(allowed_origins=[OTHER])
    url_a = f"/studies/{study_a['slug']}/participants/w-1/start"
    url_b = f"/studies/{study_b['slug']}/participants/w-1/start"
    assert page_a.post(url_a, headers={"Origin": ALLOWED}).status_code == 200
    assert_error(page_b.post(url_b, headers={"Origin": ALLOWED}), 403, "origin_not_allowed")
    assert_error(_preflight(anonymous, url_b, ALLOWED), 403, "origin_not_allowed")
    assert page_b.post(url_b, headers={"Origin": OTHER}).status_code == 200


def test_changing_allowed_origins_takes_effect_at_once(study_page, admin, anonymous):
    study, page = study_page
    url = f"/studies/{study['slug']}/participants/w-1/start"
    assert page.post(url, headers={"Origin": ALLOWED}).status_code == 200
    changed = admin.patch(f"/studies/{study['slug']}", json={"allowed_origins": [OTHER]})
    assert changed.status_code == 200, changed.text
    assert_error(page.post(url, headers={"Origin": ALLOWED}), 403, "origin_not_allowed")
    assert_error(_preflight(anonymous, url, ALLOWED), 403, "origin_not_allowed")
    assert page.post(url, headers={"Origin": OTHER}).headers[ACAO] == OTHER
