"""crowdgate mounted into a researcher's own Flask application."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from crowdgate import CrowdGate
from crowdgate.domain.keys import create_admin_key
from flask import Flask, jsonify

from tests.conftest import serve
from tests.http import assert_error


@pytest.fixture
def host_app(db_url: str, clock: Any) -> Any:
    app = Flask("lab_site")
    app.config.update(
        SECRET_KEY="the lab's own",
        LAB_NAME="Social Cognition Lab",
        CROWDGATE_DATABASE_URL=db_url,
        CROWDGATE_CLOCK=clock,
        CROWDGATE_SURVEY_RATE_LIMIT="999 per minute",
    )

    @app.get("/")
    def home() -> Any:
        return jsonify(lab=app.config["LAB_NAME"])

    @app.get("/boom")
    def boom() -> Any:
        raise ValueError("the lab's own failure")

    CrowdGate(app, url_prefix="/research")
    yield app
    app.extensions["crowdgate"].db.dispose()


def test_mounted_api_and_host_routes_both_work(host_app):
    with host_app.app_context():
        db = host_app.extensions["crowdgate"].db
    with db.write() as session:
        key = create_admin_key(session, name="lab", now=host_app.extensions["crowdgate"].clock())
    for live in serve(host_app):
        assert requests.get(f"{live.url}/", timeout=10).json() == {"lab": "Social Cognition Lab"}
        admin = {"Authorization": f"Bearer {key}"}
        created = requests.post(
            f"{live.url}/research/api/v1/studies",
            json={"slug": "mounted"},
            headers=admin,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        page = {"X-Survey-Key": created.json()["survey_key"]}
        started = requests.post(
            f"{live.url}/research/api/v1/studies/mounted/participants/p1/start",
            headers=page,
            timeout=10,
        )
        assert started.json()["status"] == "started"
        docs = requests.get(f"{live.url}/research/api/v1/docs", timeout=10)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        # Outside its path crowdgate changes nothing: the host's 404 stays the host's.
        missing = requests.get(f"{live.url}/no-such-page", timeout=10)
        assert missing.status_code == 404
        assert "application/json" not in missing.headers["Content-Type"]
        inside = requests.get(f"{live.url}/research/api/v1/no-such", timeout=10)
        assert_error(inside, 404, "not_found")
        assert requests.get(f"{live.url}/api/v1/health", timeout=10).status_code == 404


def test_host_settings_win_and_defaults_fill_the_rest(host_app):
    assert host_app.config["CROWDGATE_SURVEY_RATE_LIMIT"] == "999 per minute"
    assert host_app.config["CROWDGATE_MAX_STATE_BYTES"] == 64 * 1024
    assert host_app.config["SECRET_KEY"] == "the lab's own"


def test_registering_twice_is_refused(host_app):
    with pytest.raises(RuntimeError, match="already registered"):
        CrowdGate().init_app(host_app)


def test_one_extension_instance_serves_two_apps(db_url):
    extension = CrowdGate(url_prefix="/x")
    apps = [Flask(f"app{i}") for i in range(2)]
    for app in apps:
        app.config["CROWDGATE_DATABASE_URL"] = db_url
        extension.init_app(app)
    try:
        for app in apps:
            assert app.test_client().get("/x/api/v1/health").json == {"status": "ok"}
    finally:
        for app in apps:
            app.extensions["crowdgate"].db.dispose()
