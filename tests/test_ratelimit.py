"""Rate limits on survey endpoints: per survey key and address, admins exempt, shared via Redis."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from crowdgate import create_app

from tests.conftest import LiveServer
from tests.http import ApiClient, assert_error

REDIS_URI = "redis://127.0.0.1:6379"
LIMIT = 5

# Rate limiting does not touch the database: SQLite alone is enough.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_SURVEY_RATE_LIMIT": f"{LIMIT} per minute"}


def _use_up(page: ApiClient, slug: str, count: int, worker: str = "w-1") -> None:
    for n in range(count):
        response = page.get(f"/studies/{slug}/eligibility", params={"worker_id": f"{worker}-{n}"})
        assert response.status_code == 200, (n, response.text)
        # Retry-After on an accepted request would tell clients to slow down.
        assert "Retry-After" not in response.headers


def _assert_rate_limited(response: Any) -> None:
    assert_error(response, 429, "rate_limited")
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None, response.headers
    assert retry_after.isdigit(), retry_after
    assert 0 <= int(retry_after) <= 60 * 60


def test_sixth_survey_request_is_429_rate_limited(make_study):
    study, page = make_study()
    slug = study["slug"]
    _use_up(page, slug, LIMIT)

    refused = page.get(f"/studies/{slug}/eligibility", params={"worker_id": "w-late"})
    _assert_rate_limited(refused)
    assert "w-late" not in refused.text
    # ... and the key stays limited.
    _assert_rate_limited(page.get(f"/studies/{slug}/eligibility", params={"worker_id": "w"}))


def test_refused_request_does_nothing(make_study, admin):
    study, page = make_study()
    slug = study["slug"]
    url = f"/studies/{slug}/participants/w-late/start"
    for n in range(LIMIT):
        assert page.get(url, params={"assignment_id": "a-1"}).status_code == 200, n
    _assert_rate_limited(page.post(url, json={"assignment_id": "a-1", "hit_id": "h-1"}))
    assert admin.get(f"/studies/{slug}/participants/w-late").json()["hit_id"] is None


def test_limit_counts_requests_across_survey_endpoints(make_study):
    study, page = make_study()
    slug = study["slug"]
    base = f"/studies/{slug}/participants/w-1"
    calls = [
        page.get(f"/studies/{slug}/eligibility", params={"worker_id": "w-1"}),
        page.post(f"{base}/start", json={}),
        page.put(f"{base}/state", json={"a": 1}),
        page.get(f"{base}/state"),
        page.post(f"{base}/complete"),
    ]
    assert [response.status_code for response in calls] == [200] * LIMIT
    code = calls[-1].json()["completion_code"]
    _assert_rate_limited(
        page.get(f"/studies/{slug}/codes/verify", params={"code": code, "worker_id": "w-1"})
    )


def test_key_in_query_or_form_counts_the_same(make_study, anonymous):
    study, page = make_study()
    slug = study["slug"]
    key = page.survey_key
    url = f"/studies/{slug}/participants/w-1/start"
    for _ in range(2):
        assert anonymous.get(url, params={"key": key}).status_code == 200
    for _ in range(2):
        assert anonymous.post(url, data={"key": key}).status_code == 200
    assert page.get(url).status_code == 200
    _assert_rate_limited(anonymous.get(url, params={"key": key}))
    _assert_rate_limited(anonymous.post(url, data={"key": key}))
    _assert_rate_limited(page.get(url))


def test_another_studys_key_is_not_limited_by_the_first(make_study):
    study_a, page_a = make_study()
    study_b, page_b = make_study()
    _use_up(page_a, study_a["slug"], LIMIT)
    _assert_rate_limited(
        page_a.get(f"/studies/{study_a['slug']}/eligibility", params={"worker_id": "x"})
    )
    _use_up(page_b, study_b["slug"], LIMIT)
    _assert_rate_limited(
        page_b.get(f"/studies/{study_b['slug']}/eligibility", params={"worker_id": "x"})
    )


def test_rotated_key_starts_a_fresh_count(make_study, admin, server):
    study, old_page = make_study()
    slug = study["slug"]
    _use_up(old_page, slug, LIMIT)
    new_key = admin.post(f"/studies/{slug}/survey-key").json()["survey_key"]
    with ApiClient(server.url, survey_key=new_key) as new_page:
        _use_up(new_page, slug, LIMIT)
        _assert_rate_limited(
            new_page.get(f"/studies/{slug}/eligibility", params={"worker_id": "x"})
        )


def test_admin_requests_are_not_limited(make_study, admin):
    study, page = make_study()
    slug = study["slug"]
    url = f"/studies/{slug}/eligibility"
    for n in range(3 * LIMIT):
        response = admin.get(url, params={"worker_id": f"admin-{n}"})
        assert response.status_code == 200, (n, response.text)
    # The admin's calls did not use up the page's allowance ...
    _use_up(page, slug, LIMIT)
    _assert_rate_limited(page.get(url, params={"worker_id": "x"}))
    # ... and a limited page does not limit the admin.
    for n in range(LIMIT + 1):
        response = admin.get(url, params={"worker_id": f"w-{n}"})
        assert response.status_code == 200, (n, response.text)
    assert admin.get(f"/studies/{slug}/participants").status_code == 200


def test_preflights_are_not_counted(make_study, anonymous):
    origin = "https://survey.example.org"
    study, page = make_study(allowed_origins=[origin])
    slug = study["slug"]
    for _ in range(2 * LIMIT):
        preflight = anonymous.options(
            f"/studies/{slug}/eligibility",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 204, preflight.text
    _use_up(page, slug, LIMIT)
    _assert_rate_limited(page.get(f"/studies/{slug}/eligibility", params={"worker_id": "x"}))


def test_429_to_an_allowed_origin_is_readable_by_the_page(make_study):
    origin = "https://survey.example.org"
    study, page = make_study(allowed_origins=[origin])
    slug = study["slug"]
    _use_up(page, slug, LIMIT)
    refused = page.get(
        f"/studies/{slug}/eligibility", params={"worker_id": "x"}, headers={"Origin": origin}
    )
    _assert_rate_limited(refused)
    assert refused.headers.get("Access-Control-Allow-Origin") == origin
    exposed = refused.headers.get("Access-Control-Expose-Headers", "").lower()
    assert "retry-after" in exposed


# --- shared counters in Redis ---------------------------------------------------------------


@pytest.fixture
def redis_config(app_config: dict[str, Any]) -> dict[str, Any]:
    client = redis.Redis.from_url(REDIS_URI, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis variant: no Redis reachable at {REDIS_URI}: {exc}")
    finally:
        client.close()
    # A window length no other run uses, so this run's counters have keys of their own
    # (and expire on their own: nothing is flushed).
    seconds = 600 + secrets.randbelow(3000)
    return {
        **app_config,
        "CROWDGATE_RATELIMIT_STORAGE_URI": REDIS_URI,
        "CROWDGATE_SURVEY_RATE_LIMIT": f"{LIMIT} per {seconds} seconds",
    }


@pytest.fixture
def two_servers(redis_config: dict[str, Any]) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two instances of the service on one database and one Redis, as behind a balancer."""
    apps = [create_app(redis_config) for _ in range(2)]
    servers = [LiveServer(application) for application in apps]
    yield servers[0], servers[1]
    for live, application in zip(servers, apps, strict=True):
        live.stop()
        application.extensions["crowdgate"].db.dispose()


def test_redis_counter_is_shared_by_two_instances(two_servers, admin_key):
    one, two = two_servers
    with ApiClient(one.url, admin_key=admin_key) as admin:
        created = admin.post("/studies", json={"slug": "shared-limit", "platform": "none"})
        assert created.status_code == 201, created.text
    key = created.json()["survey_key"]
    with (
        ApiClient(one.url, survey_key=key) as page_one,
        ApiClient(two.url, survey_key=key) as page_two,
    ):
        _use_up(page_one, "shared-limit", 3, worker="one")
        _use_up(page_two, "shared-limit", 2, worker="two")
        # Five requests in all: the sixth is refused on either instance.
        refused = page_two.get("/studies/shared-limit/eligibility", params={"worker_id": "x"})
        _assert_rate_limited(refused)
        _assert_rate_limited(
            page_one.get("/studies/shared-limit/eligibility", params={"worker_id": "x"})
        )


def test_redis_counters_stay_per_key(two_servers, admin_key):
    one, two = two_servers
    keys = []
    with ApiClient(one.url, admin_key=admin_key) as admin:
        for slug in ("redis-a", "redis-b"):
            created = admin.post("/studies", json={"slug": slug, "platform": "none"})
            assert created.status_code == 201, created.text
            keys.append(created.json()["survey_key"])
    with (
        ApiClient(one.url, survey_key=keys[0]) as page_a,
        ApiClient(two.url, survey_key=keys[1]) as page_b,
    ):
        _use_up(page_a, "redis-a", LIMIT)
        _assert_rate_limited(page_a.get("/studies/redis-a/eligibility", params={"worker_id": "x"}))
        _use_up(page_b, "redis-b", LIMIT)


# --- an unreachable storage ---------------------------------------------------------------


@pytest.fixture
def unreachable_redis_config(app_config: dict[str, Any]) -> dict[str, Any]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now: connections are refused at once
    return {**app_config, "CROWDGATE_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{port}"}


def test_pages_keep_working_and_limited_when_redis_is_down(
    unreachable_redis_config, admin_key, caplog
):
    application = create_app(unreachable_redis_config)
    live = LiveServer(application)
    try:
        with ApiClient(live.url, admin_key=admin_key) as admin:
            created = admin.post("/studies", json={"slug": "no-redis", "platform": "none"})
            assert created.status_code == 201, created.text
        with ApiClient(live.url, survey_key=created.json()["survey_key"]) as page:
            _use_up(page, "no-redis", LIMIT)
            # Counted in the process meanwhile: the limit still holds.
            _assert_rate_limited(
                page.get("/studies/no-redis/eligibility", params={"worker_id": "x"})
            )
    finally:
        live.stop()
        application.extensions["crowdgate"].db.dispose()
    assert "rate-limit storage unreachable" in caplog.text
