"""The SDK's transport and errors against a live server, through a proxy that fails on purpose."""

from __future__ import annotations

import builtins
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from crowdgate import create_app
from crowdgate.models import IdempotencyRecord
from crowdgate_client import errors
from crowdgate_client._http import Transport
from sqlalchemy import text, update

from tests.conftest import LiveServer
from tests.faults import FaultProxy

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
REPLAYED = "Idempotent-Replayed"


class Sleeps(list[float]):
    """A sleep that only remembers how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.url) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def transport(
    url: str, sleeps: Sleeps, *, key: str | None = None, survey_key: str | None = None, **kw: Any
) -> Transport:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if survey_key:
        headers["X-Survey-Key"] = survey_key
    kw.setdefault("rand", lambda: 1.0)  # the top of each jitter range: delays are exact
    return Transport(url, headers=headers, sleep=sleeps, timeout=10, **kw)


def slugs(t: Transport) -> list[str]:
    return [study["slug"] for study in t.request("GET", "/studies").json()["items"]]


# -- retries that make a POST act once


def test_post_whose_answer_was_lost_is_retried_and_acts_once(proxy, admin_key, sleeps):
    proxy.drop_after_answer(method="POST", path="/api/v1/studies")
    with transport(proxy.url, sleeps, key=admin_key) as t:
        created = t.request("POST", "/studies", json={"slug": "lost-answer"})
        assert created.status_code == 201
        assert created.headers[REPLAYED] == "true"  # the first attempt's answer
        assert slugs(t) == ["lost-answer"]
    first, retry = proxy.requests("POST")
    assert (first.action, first.upstream_status) == ("drop_after_answer", 201)
    assert (retry.action, retry.upstream_status) == ("forward", 201)
    assert first.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert len(sleeps) == 1


def test_without_a_key_the_same_retry_would_act_twice(proxy, admin_key):
    # What the key prevents: the retried create runs again and fails as a duplicate.
    proxy.drop_after_answer(method="POST")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin_key}"
    with pytest.raises(requests.ConnectionError):
        session.post(f"{proxy.url}/api/v1/studies", json={"slug": "twice"}, timeout=10)
    again = session.post(f"{proxy.url}/api/v1/studies", json={"slug": "twice"}, timeout=10)
    assert again.status_code == 409 and again.json()["error"] == "slug_taken"
    session.close()


def test_survey_start_retried_through_two_lost_answers_starts_once(
    proxy, make_study, admin_key, sleeps
):
    study, page = make_study()
    path = f"/studies/{study['slug']}/participants/w-1/start"
    proxy.drop_after_answer(2, method="POST")
    with transport(proxy.url, sleeps, survey_key=page.survey_key) as t:
        started = t.request("POST", path, json={"assignment_id": "a-1"})
    assert started.json()["resumed"] is False and started.json()["attempt"] == 1
    assert [seen.upstream_status for seen in proxy.requests("POST")] == [200, 200, 200]
    assert len({seen.headers["idempotency-key"] for seen in proxy.requests("POST")}) == 1
    with transport(proxy.url, sleeps, key=admin_key) as t:
        detail = t.request("GET", path.removesuffix("/start")).json()
    assert [event["status"] for event in detail["events"]] == ["started"]


@SQLITE
def test_connection_dropped_before_the_server_saw_it_is_retried(proxy, admin_key, sleeps):
    proxy.drop_before_forward(2)
    with transport(proxy.url, sleeps, key=admin_key) as t:
        assert t.request("POST", "/studies", json={"slug": "unseen"}).status_code == 201
        assert slugs(t) == ["unseen"]
    assert [seen.action for seen in proxy.requests("POST")] == [
        "drop_before_forward",
        "drop_before_forward",
        "forward",
    ]
    assert sleeps == [0.5, 1.0]


@SQLITE
def test_the_given_idempotency_key_is_sent_on_every_attempt(proxy, admin_key, sleeps):
    proxy.answer(503, 2, method="POST")
    with transport(proxy.url, sleeps, key=admin_key) as t:
        t.request("POST", "/studies", json={"slug": "mine"}, idempotency_key="order-42")
        t.request("GET", "/studies")
        t.request("POST", "/studies", json={"slug": "fresh"})
    keys = [seen.headers.get("idempotency-key") for seen in proxy.requests()]
    assert keys[:3] == ["order-42"] * 3
    assert keys[3] is None  # GET carries none
    assert keys[4] not in (None, "order-42")


def test_a_timed_out_post_is_retried_and_the_late_original_does_not_act(proxy, admin_key, sleeps):
    proxy.delay(1.0, method="POST")
    with transport(proxy.url, sleeps, key=admin_key) as t:
        t.timeout = 0.3
        created = t.request("POST", "/studies", json={"slug": "slow"})
        assert created.status_code == 201 and REPLAYED not in created.headers
        original = proxy.requests("POST")[0]
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while original.upstream_status is None and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        # It reached the server after the retry had acted: replayed (or refused while running).
        assert original.upstream_status in (201, 409)
        assert slugs(t) == ["slow"]


def test_in_progress_409_is_retried_and_an_abandoned_key_is_not(proxy, admin_key, db, clock):
    def wait(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(minutes=6)  # long enough for crowdgate to give the first request up

    waited: list[float] = []
    with Transport(proxy.url, headers={"Authorization": f"Bearer {admin_key}"}, sleep=wait) as t:
        t.request("POST", "/studies", json={"slug": "stuck"}, idempotency_key="stuck-1")
        # The state a crash between acting and storing the answer leaves behind.
        with db.write() as session:
            session.execute(update(IdempotencyRecord).values(status=None, body=None))
        with pytest.raises(errors.ConflictError) as caught:
            t.request("POST", "/studies", json={"slug": "stuck"}, idempotency_key="stuck-1")
    assert caught.value.code == "idempotency_key_abandoned"
    assert [seen.upstream_status for seen in proxy.requests("POST")] == [201, 409, 409]
    assert len(waited) == 1 and waited[0] >= 1.0  # the Retry-After of the in-progress 409


# -- what is retried, how long it waits, and what it raises


@SQLITE
def test_503_is_retried_until_it_passes(proxy, admin_key, sleeps):
    proxy.answer(503, 2)
    with transport(proxy.url, sleeps, key=admin_key) as t:
        assert t.request("GET", "/studies").status_code == 200
    assert [seen.action for seen in proxy.requests()] == ["answer", "answer", "forward"]
    assert sleeps == [0.5, 1.0]


@SQLITE
def test_5xx_after_the_last_retry_is_a_server_error(proxy, admin_key, sleeps):
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    proxy.answer(502, 10, headers={"Content-Type": "text/html"}, body=page)
    with transport(proxy.url, sleeps, key=admin_key, retries=3) as t:
        with pytest.raises(errors.ServerError) as caught:
            t.request("GET", "/studies")
    error = caught.value
    assert (error.status, error.code, error.request_id) == (502, "http_502", None)
    assert "Bad Gateway" in error.message and str(error) == error.message
    assert len(proxy.requests()) == 4
    assert sleeps == [0.5, 1.0, 2.0]


@SQLITE
def test_backoff_doubles_up_to_its_cap_with_full_jitter(proxy, admin_key, sleeps):
    proxy.answer(500, 5)
    with transport(proxy.url, sleeps, key=admin_key, retries=5, backoff=1, max_backoff=3) as t:
        assert t.request("GET", "/studies").status_code == 200
    assert sleeps == [1, 2, 3, 3, 3]
    jittered = Transport(proxy.url, headers={}, backoff=1, max_backoff=3, rand=lambda: 0.25)
    assert [jittered.backoff_delay(n) for n in range(5)] == [0.25, 0.5, 0.75, 0.75, 0.75]
    jittered.close()


@SQLITE
def test_crowdgates_own_500_is_retried_then_raised(proxy, make_study, db, sleeps):
    study, page = make_study()
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE participant_events RENAME TO participant_events_gone"))
    try:
        with transport(proxy.url, sleeps, survey_key=page.survey_key, retries=2) as t:
            with pytest.raises(errors.ServerError) as caught:
                t.request("POST", f"/studies/{study['slug']}/participants/w-1/start")
    finally:
        with db.engine.begin() as connection:
            connection.execute(
                text("ALTER TABLE participant_events_gone RENAME TO participant_events")
            )
    error = caught.value
    assert (error.status, error.code) == (500, "internal_error")
    last = proxy.requests()[-1]
    assert error.request_id and error.response is not None
    assert error.request_id == error.response.headers["X-Request-ID"]
    assert str(error).endswith(f"(request id: {error.request_id})")
    assert [seen.upstream_status for seen in proxy.requests()] == [500, 500, 500]
    assert last.headers["idempotency-key"] == proxy.requests()[0].headers["idempotency-key"]


@SQLITE
def test_429_waits_as_long_as_retry_after_asks(proxy, admin_key):
    body = json.dumps({"code": 429, "error": "rate_limited", "message": "slow down"}).encode()
    proxy.answer(429, headers={"Retry-After": "2", "Content-Type": "application/json"}, body=body)
    waited = Sleeps()
    with transport(proxy.url, waited, key=admin_key, rand=lambda: 0.0) as t:
        assert t.request("GET", "/studies").status_code == 200
    assert waited == [2.0]


@pytest.fixture
def limited(app_config: dict[str, Any], make_study: Any) -> Iterator[tuple[str, str, str]]:
    """A second server on the same database, allowing survey pages 2 calls a minute."""
    study, page = make_study()
    app = create_app({**app_config, "CROWDGATE_SURVEY_RATE_LIMIT": "2 per minute"})
    live = LiveServer(app)
    yield live.url, study["slug"], page.survey_key or ""
    live.stop()
    app.extensions["crowdgate"].db.dispose()


@SQLITE
def test_crowdgates_429_is_retried_after_its_retry_after_then_raised(limited):
    url, slug, key = limited
    waited = Sleeps()
    with transport(url, waited, survey_key=key, retries=2, max_backoff=120) as t:
        for n in range(2):
            t.request("GET", f"/studies/{slug}/eligibility", params={"worker_id": f"w-{n}"})
        with pytest.raises(errors.RateLimitedError) as caught:
            t.request("GET", f"/studies/{slug}/eligibility", params={"worker_id": "w-late"})
    error = caught.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.retry_after is not None and 0 < error.retry_after <= 60
    assert len(waited) == 2 and all(wait >= 1 for wait in waited)


@SQLITE
def test_retry_after_beyond_max_backoff_is_not_waited_for(limited):
    url, slug, key = limited
    waited = Sleeps()
    with transport(url, waited, survey_key=key, max_backoff=0.5) as t:
        for n in range(2):
            t.request("GET", f"/studies/{slug}/eligibility", params={"worker_id": f"w-{n}"})
        with pytest.raises(errors.RateLimitedError) as caught:
            t.request("GET", f"/studies/{slug}/eligibility", params={"worker_id": "w-late"})
    assert waited == [] and caught.value.retry_after is not None


def _four_xx(make_study: Any, admin_key: str) -> list[tuple[Any, ...]]:
    study, page = make_study(slug="taken")
    admin = {"key": admin_key}
    return [
        (
            401,
            errors.AuthenticationError,
            "invalid_key",
            {"key": "cga_wrong"},
            "GET",
            "/studies",
            {},
        ),
        (
            403,
            errors.PermissionDeniedError,
            "admin_key_required",
            {"survey_key": page.survey_key},
            "GET",
            "/studies",
            {},
        ),
        (404, errors.NotFoundError, "study_not_found", admin, "GET", "/studies/nope", {}),
        (
            409,
            errors.ConflictError,
            "slug_taken",
            admin,
            "POST",
            "/studies",
            {"json": {"slug": "taken"}},
        ),
        (
            422,
            errors.ValidationError,
            "validation_error",
            admin,
            "POST",
            "/studies",
            {"json": {"slug": "Not A Slug"}},
        ),
        (
            400,
            errors.ValidationError,
            "malformed_json",
            admin,
            "POST",
            "/studies",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        (
            415,
            errors.ValidationError,
            "unsupported_media_type",
            admin,
            "POST",
            "/studies",
            {"data": b"slug=x", "headers": {"Content-Type": "text/plain"}},
        ),
    ]


@SQLITE
def test_each_4xx_raises_its_class_at_once(proxy, make_study, admin_key):
    for status, cls, code, keys, method, path, kwargs in _four_xx(make_study, admin_key):
        proxy.seen.clear()
        waited = Sleeps()
        with transport(proxy.url, waited, **keys) as t:
            with pytest.raises(cls) as caught:
                t.request(method, path, **kwargs)
        error = caught.value
        assert type(error) is cls, (status, error)
        assert (error.status, error.code) == (status, code)
        assert error.message and isinstance(error.fields, dict)
        assert error.response is not None
        assert error.request_id == error.response.headers["X-Request-ID"]
        assert str(error) == f"{error.message} (request id: {error.request_id})"
        assert len(proxy.requests()) == 1 and waited == [], (status, "was retried")


@SQLITE
def test_validation_error_is_a_value_error_with_fields(proxy, admin_key, sleeps):
    with transport(proxy.url, sleeps, key=admin_key) as t:
        with pytest.raises(ValueError) as caught:
            t.request("POST", "/studies", json={"slug": "Not A Slug", "mode": "wild"})
    assert isinstance(caught.value, errors.ValidationError)
    assert {"slug", "mode"} <= set(caught.value.fields)


@SQLITE
def test_body_over_the_limit_is_a_validation_error(server, admin_key, sleeps):
    big = {"slug": "big", "title": "x" * (1024 * 1024)}
    with transport(server.url, sleeps, key=admin_key) as t:
        with pytest.raises(errors.ValidationError) as caught:
            t.request("POST", "/studies", json=big)
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")


@SQLITE
def test_a_proxys_plain_text_404_still_maps_to_not_found(proxy, admin_key, sleeps):
    proxy.answer(404, headers={"Content-Type": "text/plain"}, body=b"no such route here")
    with transport(proxy.url, sleeps, key=admin_key) as t:
        with pytest.raises(errors.NotFoundError) as caught:
            t.request("GET", "/studies")
    assert caught.value.code == "http_404"
    assert caught.value.message == "HTTP 404 Not Found: no such route here"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_a_connection_error_after_the_retries(sleeps):
    url = f"http://127.0.0.1:{_closed_port()}"
    with transport(url, sleeps, retries=2) as t:
        with pytest.raises(errors.ConnectionError) as caught:
            t.request("POST", "/studies", json={"slug": "nowhere"})
    error = caught.value
    assert isinstance(error, builtins.ConnectionError) and isinstance(error, OSError)
    assert isinstance(error, errors.CrowdgateError)
    assert (error.status, error.code, error.request_id) == (None, "connection_error", None)
    assert url in str(error) and "request id" not in str(error)
    assert sleeps == [0.5, 1.0]


@SQLITE
def test_no_answer_in_time_is_a_timeout(proxy, admin_key, sleeps):
    proxy.delay(1.0, 5)
    with transport(proxy.url, sleeps, key=admin_key, retries=1) as t:
        t.timeout = 0.2
        with pytest.raises(errors.ConnectionError) as caught:
            t.request("GET", "/studies")
    assert caught.value.code == "timeout" and "timed out" in str(caught.value)
    assert len(proxy.requests()) == 2 and sleeps == [0.5]


def test_retry_after_may_be_an_http_date():
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert errors.parse_retry_after(later, now=now.timestamp()) == 30
    assert errors.parse_retry_after("1.5") == 1.5
    assert errors.parse_retry_after("soon") is None
    assert errors.parse_retry_after(None) is None
