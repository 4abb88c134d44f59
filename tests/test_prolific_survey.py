"""The survey side of a Prolific study: Prolific's URL parameters at start, Prolific ids,
and where /complete sends the participant (the study's redirect or Prolific's page)."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from crowdgate_client import Client, SurveyClient, ValidationError

from tests.http import assert_error

PID = "5f1e2d3c4b5a69788796a5b4"
OTHER_PID = "60aa11bb22cc33dd44ee55ff"
STUDY_ID = "65a1b2c3d4e5f60718293a4b"
SESSION_ID = "6600112233445566778899aa"
PROLIFIC_CODE = "C1A2B3C4"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def prolific_study(make_study):
    return make_study(
        platform="prolific",
        conditions=[{"name": "a", "target": 5}],
        platform_completion_code=PROLIFIC_CODE,
    )


def _start_path(study, worker_id=PID):
    return f"/studies/{study['slug']}/participants/{worker_id}/start"


def _complete_path(study, worker_id=PID):
    return f"/studies/{study['slug']}/participants/{worker_id}/complete"


# --- start: Prolific's names for the ids ------------------------------------------------------


def test_qualtrics_get_with_prolific_parameters_records_the_ids(prolific_study, admin):
    study, page = prolific_study
    response = page.get(
        _start_path(study),
        params={"PROLIFIC_PID": PID, "STUDY_ID": STUDY_ID, "SESSION_ID": SESSION_ID},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["worker_id"], body["hit_id"], body["assignment_id"]) == (
        PID,
        STUDY_ID,
        SESSION_ID,
    )
    assert not {"STUDY_ID", "SESSION_ID", "PROLIFIC_PID"} & set(body)
    stored = admin.get(f"/studies/{study['slug']}/participants/{PID}").json()
    assert (stored["hit_id"], stored["assignment_id"]) == (STUDY_ID, SESSION_ID)


def test_form_post_with_prolific_parameters(prolific_study):
    study, page = prolific_study
    response = page.post(_start_path(study), data={"STUDY_ID": STUDY_ID, "SESSION_ID": SESSION_ID})
    assert response.status_code == 200, response.text
    assert (response.json()["hit_id"], response.json()["assignment_id"]) == (STUDY_ID, SESSION_ID)


def test_json_post_with_prolific_parameters(prolific_study):
    study, page = prolific_study
    response = page.post(
        _start_path(study),
        json={"PROLIFIC_PID": PID, "STUDY_ID": STUDY_ID, "SESSION_ID": SESSION_ID},
    )
    assert response.status_code == 200, response.text
    assert response.json()["assignment_id"] == SESSION_ID


def test_both_names_with_the_same_value_are_accepted(prolific_study):
    study, page = prolific_study
    response = page.post(
        _start_path(study),
        json={"SESSION_ID": SESSION_ID, "assignment_id": SESSION_ID, "hit_id": STUDY_ID},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["hit_id"], response.json()["assignment_id"]) == (STUDY_ID, SESSION_ID)


@pytest.mark.parametrize(
    ("prolific", "own"), [("SESSION_ID", "assignment_id"), ("STUDY_ID", "hit_id")]
)
def test_both_names_with_different_values_is_422_naming_both(prolific_study, admin, prolific, own):
    study, page = prolific_study
    response = page.post(_start_path(study), json={prolific: SESSION_ID, own: OTHER_PID})
    body = assert_error(response, 422, "validation_error", prolific)
    assert own in body["fields"]
    # Nothing was recorded: the page can fix the parameters and start again.
    gone = admin.get(f"/studies/{study['slug']}/participants/{PID}")
    assert gone.status_code == 404, gone.text


def test_prolific_pid_other_than_the_path_is_422(prolific_study):
    study, page = prolific_study
    response = page.get(_start_path(study), params={"PROLIFIC_PID": OTHER_PID})
    body = assert_error(response, 422, "worker_id_mismatch", "PROLIFIC_PID")
    assert OTHER_PID in body["message"] and PID in body["message"]


def test_an_empty_prolific_parameter_is_422_naming_it(prolific_study):
    study, page = prolific_study
    response = page.get(_start_path(study), params={"STUDY_ID": ""})
    assert_error(response, 422, "validation_error", "STUDY_ID")


def test_a_prolific_study_refuses_an_mturk_worker_id(prolific_study):
    study, page = prolific_study
    response = page.post(_start_path(study, "A1B2C3D4E5F6G7"), json={})
    body = assert_error(response, 422, "invalid_worker_id", "worker_id")
    assert "24 hexadecimal" in body["message"]
    assert "24 hexadecimal" in " ".join(body["fields"]["worker_id"])


# --- complete: redirect_url ------------------------------------------------------------------


def test_complete_sends_the_participant_to_prolific_with_the_study_code(prolific_study):
    study, page = prolific_study
    assert page.get(_start_path(study), params={"SESSION_ID": SESSION_ID}).status_code == 200
    response = page.post(_complete_path(study))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["completion_code"]
    url = urlsplit(body["redirect_url"])
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "app.prolific.com",
        "/submissions/complete",
    )
    assert parse_qs(url.query) == {"cc": [PROLIFIC_CODE]}

    again = page.post(_complete_path(study)).json()
    assert again == body


def test_complete_fills_in_the_study_redirect_url_encoded(make_study, admin):
    study, page = make_study(
        platform="prolific",
        platform_completion_code=PROLIFIC_CODE,
        completion_redirect_url=(
            "https://example.org/done?code={completion_code}&who={worker_id}&s={study}&x={{y}}"
        ),
    )
    assert page.post(_start_path(study), json={}).status_code == 200
    body = page.post(_complete_path(study)).json()
    query = parse_qs(urlsplit(body["redirect_url"]).query)
    assert query == {
        "code": [body["completion_code"]],
        "who": [PID],
        "s": [study["slug"]],
        "x": ["{y}"],
    }


def test_values_are_url_encoded_in_the_redirect(make_study):
    # Worker ids on the "none" platform may hold characters a URL must escape.
    study, page = make_study(completion_redirect_url="https://example.org/{worker_id}/done")
    worker = "a b&c=d"
    assert page.post(_start_path(study, worker), json={}).status_code == 200
    body = page.post(_complete_path(study, worker)).json()
    assert body["redirect_url"] == "https://example.org/a%20b%26c%3Dd/done"


def test_no_code_and_no_redirect_gives_null(make_study):
    study, page = make_study(platform="prolific")
    assert page.post(_start_path(study), json={}).status_code == 200
    body = page.post(_complete_path(study)).json()
    assert body["completion_code"] and body["redirect_url"] is None


def test_a_platform_without_a_completion_page_gives_null(make_study):
    study, page = make_study(platform="mturk", platform_completion_code=PROLIFIC_CODE)
    worker = "A1B2C3D4E5F6G7"
    assert page.post(_start_path(study, worker), json={}).status_code == 200
    assert page.post(_complete_path(study, worker)).json()["redirect_url"] is None


def test_changing_the_redirect_reaches_a_repeated_complete(prolific_study, admin):
    study, page = prolific_study
    assert page.post(_start_path(study), json={}).status_code == 200
    first = page.post(_complete_path(study)).json()
    changed = admin.patch(
        f"/studies/{study['slug']}",
        json={"completion_redirect_url": "https://example.org/thanks?c={completion_code}"},
    )
    assert changed.status_code == 200, changed.text
    again = page.post(_complete_path(study)).json()
    assert again["completion_code"] == first["completion_code"]
    assert again["redirect_url"] == f"https://example.org/thanks?c={first['completion_code']}"


# --- the study's fields ------------------------------------------------------------------------


def test_study_fields_are_returned_updated_and_cleared(make_study, admin):
    study, _ = make_study(
        platform="prolific",
        platform_completion_code=PROLIFIC_CODE,
        completion_redirect_url="https://example.org/{study}",
    )
    assert study["platform_completion_code"] == PROLIFIC_CODE
    assert study["completion_redirect_url"] == "https://example.org/{study}"
    path = f"/studies/{study['slug']}"
    cleared = admin.patch(path, json={"platform_completion_code": None}).json()
    assert cleared["platform_completion_code"] is None
    assert cleared["completion_redirect_url"] == "https://example.org/{study}"
    read = admin.get(path).json()
    assert (read["platform_completion_code"], read["completion_redirect_url"]) == (
        None,
        "https://example.org/{study}",
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/{completion_code}",
        "javascript:alert(1)",
        "https://example.org/{code}",
        "https://example.org/{worker_id!r}",
        "https://example.org/{worker_id:>30}",
        "https://example.org/{",
        "{study}",
        "https:///path-without-host",
        "https://example.org/a b",
        "https://example.org/" + "x" * 2000,
    ],
)
def test_bad_redirect_templates_are_422(make_study, admin, url):
    response = admin.post("/studies", json={"slug": "bad-redirect", "completion_redirect_url": url})
    assert_error(response, 422, "validation_error", "completion_redirect_url")
    study, _ = make_study()
    changed = admin.patch(f"/studies/{study['slug']}", json={"completion_redirect_url": url})
    assert_error(changed, 422, "validation_error", "completion_redirect_url")


@pytest.mark.parametrize("code", ["", "has space", "x" * 65, "tab\tcode", "é"])
def test_bad_platform_completion_codes_are_422(admin, code):
    response = admin.post("/studies", json={"slug": "bad-code", "platform_completion_code": code})
    assert_error(response, 422, "validation_error", "platform_completion_code")


# --- SDK and CLI -------------------------------------------------------------------------------


@SQLITE
def test_sdk_sets_the_fields_and_starts_with_prolific_ids(server, admin_key):
    with Client(server.url, admin_key) as client:
        created = client.create_study(
            "sdk-prolific", platform="prolific", platform_completion_code=PROLIFIC_CODE
        )
        assert created.platform_completion_code == PROLIFIC_CODE
        assert created.completion_redirect_url is None
        updated = client.update_study(
            "sdk-prolific", completion_redirect_url="https://example.org/{completion_code}"
        )
        assert updated.completion_redirect_url == "https://example.org/{completion_code}"
        assert updated.platform_completion_code == PROLIFIC_CODE
        with SurveyClient(server.url, "sdk-prolific", created.survey_key) as page:
            started = page.start(PID, study_id=STUDY_ID, submission_id=SESSION_ID)
            assert (started.hit_id, started.assignment_id) == (STUDY_ID, SESSION_ID)
            with pytest.raises(ValidationError) as refused:
                page.start(OTHER_PID, submission_id=SESSION_ID, assignment_id="other")
            assert {"SESSION_ID", "assignment_id"} <= set(refused.value.fields)
            done = page.complete(PID)
            assert done.redirect_url == f"https://example.org/{done.completion_code}"
        cleared = client.update_study("sdk-prolific", completion_redirect_url="")
        assert cleared.completion_redirect_url is None
        with SurveyClient(server.url, "sdk-prolific", created.survey_key) as page:
            again = page.complete(PID)
            assert again.redirect_url == (
                f"https://app.prolific.com/submissions/complete?cc={PROLIFIC_CODE}"
            )


def _cli(*args: str, server, admin_key) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROWDGATE_")}
    env = {**clean, "CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}
    return subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@SQLITE
def test_cli_sets_shows_and_refuses_the_fields(server, admin_key):
    created = _cli(
        "studies",
        "create",
        "cli-prolific",
        "--platform",
        "prolific",
        "--platform-completion-code",
        PROLIFIC_CODE,
        server=server,
        admin_key=admin_key,
    )
    assert created.returncode == 0, created.stderr
    assert PROLIFIC_CODE in created.stdout

    updated = _cli(
        "studies",
        "update",
        "cli-prolific",
        "--completion-redirect-url",
        "https://example.org/{completion_code}",
        server=server,
        admin_key=admin_key,
    )
    assert updated.returncode == 0, updated.stderr
    shown = _cli("studies", "show", "cli-prolific", server=server, admin_key=admin_key)
    assert shown.returncode == 0, shown.stderr
    assert "platform completion code" in shown.stdout and PROLIFIC_CODE in shown.stdout
    assert "https://example.org/{completion_code}" in shown.stdout

    refused = _cli(
        "studies",
        "update",
        "cli-prolific",
        "--completion-redirect-url",
        "ftp://example.org/",
        server=server,
        admin_key=admin_key,
    )
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert "completion_redirect_url" in refused.stderr
