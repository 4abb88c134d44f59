"""SurveyClient against a live server, as a survey page calls it; settings from the environment."""

from __future__ import annotations

import pytest
import requests
from crowdgate_client import (
    AuthenticationError,
    Client,
    CompletionResult,
    ConfigurationError,
    ConflictError,
    CrowdgateError,
    PermissionDeniedError,
    StartResult,
    State,
    SurveyClient,
    ValidationError,
)

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ENV = ("CROWDGATE_URL", "CROWDGATE_API_KEY", "CROWDGATE_SURVEY_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No test sees the developer's own crowdgate settings."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sdk(server, admin_key):
    with Client(server.url, admin_key) as client:
        yield client


@pytest.fixture
def study(sdk):
    return sdk.create_study("walk", conditions={"short": 2, "long": 2})


def open_pools(session: requests.Session) -> int:
    """Connection pools the session holds open (requests' adapters keep them)."""
    return sum(len(adapter.poolmanager.pools) for adapter in session.adapters.values())


def test_a_participant_walks_through_the_survey(server, study):
    with SurveyClient(server.url, "walk", study.survey_key) as page:
        assert page.eligibility("p-1").reason == "new"

        started = page.start("p-1", assignment_id="a-1")
        assert isinstance(started, StartResult)
        assert started.condition in {"short", "long"} and started.status == "started"
        assert (started.resumed, started.attempt, started.assignment_id) == (False, 1, "a-1")
        again = page.start("p-1", assignment_id="a-1")
        assert again.resumed and again.condition == started.condition
        assert page.eligibility("p-1", assignment_id="a-1").reason == "resume"

        assert page.state("p-1") == {}
        assert page.put_state("p-1", {"block": 1, "score": 7}) == {"block": 1, "score": 7}
        merged = page.patch_state("p-1", {"score": None, "trial": 12})
        assert isinstance(merged, State) and merged == {"block": 1, "trial": 12}
        saved = page.state("p-1")
        assert saved["trial"] == 12 and dict(saved) == {"block": 1, "trial": 12}
        changed = saved.to_dict() | {"block": 2}
        assert page.put_state("p-1", changed) == {"block": 2, "trial": 12}

        done = page.complete("p-1")
        assert isinstance(done, CompletionResult)
        assert (done.status, done.condition) == ("completed", started.condition)
        assert page.complete("p-1").completion_code == done.completion_code

        valid = page.verify("p-1", done.completion_code.lower())
        assert valid.valid and valid.worker_id == "p-1"
        assert valid.status is None and valid.code_worker_id is None  # admin keys only
        mismatch = page.verify("p-2", done.completion_code)
        assert (mismatch.valid, mismatch.reason) == (False, "no_match")

        finished = page.eligibility("p-1", assignment_id="a-2")
        assert (finished.eligible, finished.reason) == (False, "already_participated")
        with pytest.raises(ConflictError) as refused:
            page.start("p-1", assignment_id="a-2")
        assert refused.value.code == "already_participated"


@SQLITE
def test_survey_key_reaches_only_its_study(server, sdk, study):
    other = sdk.create_study("other")
    with SurveyClient(server.url, "other", study.survey_key) as page:
        with pytest.raises(PermissionDeniedError) as caught:
            page.start("p-1")
    assert caught.value.code == "wrong_study"
    with SurveyClient(server.url, "walk", other.survey_key + "x") as page:
        with pytest.raises(AuthenticationError):
            page.state("p-1")


@SQLITE
def test_worker_ids_must_fit_the_platform(server, sdk):
    created = sdk.create_study("prolific-one", platform="prolific")
    with SurveyClient(server.url, "prolific-one", created.survey_key) as page:
        with pytest.raises(ValidationError) as caught:
            page.start("not-hex")
        assert caught.value.code == "invalid_worker_id"
        assert page.start("5f" * 12).status == "started"


@SQLITE
def test_unknown_worker_state_is_not_found(server, study):
    with SurveyClient(server.url, "walk", study.survey_key) as page:
        with pytest.raises(CrowdgateError) as caught:
            page.state("never-started")
    assert caught.value.status == 404


# --- settings from the environment ------------------------------------------------------


@SQLITE
def test_clients_read_url_and_keys_from_the_environment(server, admin_key, study, monkeypatch):
    # A URL pasted from the README's examples, with /api/v1/ already on it.
    monkeypatch.setenv("CROWDGATE_URL", f"{server.url}/api/v1/")
    monkeypatch.setenv("CROWDGATE_API_KEY", admin_key)
    with Client() as client:
        assert client.base_url == server.url
        assert client.get_study("walk").slug == "walk"

    # Without a survey key, SurveyClient uses the admin key, which sees the admin view.
    with SurveyClient(study="walk") as page:
        code = page.complete(page.start("p-1").worker_id).completion_code
        assert page.verify("p-1", code).status == "completed"

    monkeypatch.setenv("CROWDGATE_SURVEY_KEY", study.survey_key)
    with SurveyClient(study="walk") as page:
        assert page.verify("p-1", code).status is None  # the survey key's view


def test_missing_settings_name_the_variable(monkeypatch):
    with pytest.raises(ConfigurationError, match="CROWDGATE_URL") as url:
        Client(api_key="cga_x")
    assert isinstance(url.value, ValueError) and isinstance(url.value, CrowdgateError)
    with pytest.raises(ConfigurationError, match="CROWDGATE_API_KEY"):
        Client("http://127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="CROWDGATE_SURVEY_KEY"):
        SurveyClient("http://127.0.0.1:9", "walk")
    with pytest.raises(ConfigurationError, match="study"):
        SurveyClient("http://127.0.0.1:9", survey_key="cgs_x")
    monkeypatch.setenv("CROWDGATE_URL", "  ")
    with pytest.raises(ConfigurationError, match="CROWDGATE_URL"):
        Client(api_key="cga_x")


# --- closing ----------------------------------------------------------------------------


@SQLITE
def test_context_managers_close_their_sessions(server, admin_key, study):
    with SurveyClient(server.url, "walk", study.survey_key) as page:
        page.eligibility("p-1")
        session = page._transport.session
        assert open_pools(session) == 1
    assert open_pools(session) == 0

    with Client(server.url, admin_key) as client:
        client.health()
        session = client._transport.session
        assert open_pools(session) == 1
    assert open_pools(session) == 0


@SQLITE
def test_a_session_handed_in_stays_the_callers(server, study):
    with requests.Session() as session:
        with SurveyClient(server.url, "walk", study.survey_key, session=session) as page:
            page.eligibility("p-1")
        assert open_pools(session) == 1
        with SurveyClient(server.url, "walk", study.survey_key, session=session) as page:
            assert page.eligibility("p-1").eligible
    assert open_pools(session) == 0
