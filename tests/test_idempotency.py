"""Idempotency-Key on POSTs: a repeat gets the first answer, and the action runs once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests
from crowdgate.db import Database
from crowdgate.models import IdempotencyRecord
from sqlalchemy import select, text, update

from tests.http import ApiClient, assert_error

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
ORIGIN = "https://survey.example.org"


def keyed(key: str, **headers: str) -> dict[str, str]:
    return {KEY: key, **headers}


def records(db: Database) -> list[IdempotencyRecord]:
    with db.read() as session:
        return list(session.scalars(select(IdempotencyRecord).order_by(IdempotencyRecord.id)))


def study_slugs(admin: ApiClient) -> list[str]:
    response = admin.get("/studies")
    assert response.status_code == 200, response.text
    return [study["slug"] for study in response.json()["items"]]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def assert_replay(first: requests.Response, repeat: requests.Response) -> None:
    assert repeat.status_code == first.status_code, repeat.text
    assert repeat.content == first.content
    assert repeat.headers[REPLAYED] == "true"
    assert repeat.headers["Content-Type"] == first.headers["Content-Type"]
    assert REPLAYED not in first.headers
    # Each request keeps its own id; the stored body still names the first's.
    assert repeat.headers["X-Request-ID"] != first.headers["X-Request-ID"]


def test_repeat_gets_the_first_answer_and_acts_once(admin, db):
    body = {"slug": "once", "conditions": [{"name": "a", "target": 3}]}
    first = admin.post("/studies", json=body, headers=keyed("create-once"))
    assert first.status_code == 201, first.text
    repeat = admin.post("/studies", json=body, headers=keyed("create-once"))
    assert_replay(first, repeat)
    # The survey key is shown once; a repeat shows the same one rather than a new one.
    assert repeat.json()["survey_key"] == first.json()["survey_key"]
    assert study_slugs(admin) == ["once"]
    [record] = records(db)
    assert (record.key, record.status, record.request_line) == (
        "create-once",
        201,
        "POST /api/v1/studies",
    )
    assert record.scope.startswith("admin:") and first.json()["survey_key"] not in record.scope


def test_survey_calls_replay_and_pages_of_allowed_origins_can_read_them(make_study, admin):
    study, page = make_study(allowed_origins=[ORIGIN])
    base = f"/studies/{study['slug']}/participants/w-1"
    headers = keyed("page-load-1", Origin=ORIGIN)
    started = page.post(f"{base}/start", json={"assignment_id": "s-1"}, headers=headers)
    assert started.status_code == 200, started.text
    repeat = page.post(f"{base}/start", json={"assignment_id": "s-1"}, headers=headers)
    assert_replay(started, repeat)
    assert repeat.json()["resumed"] is False  # the first answer, not a resume
    assert repeat.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert REPLAYED in repeat.headers["Access-Control-Expose-Headers"]

    done = page.post(f"{base}/complete", headers=keyed("page-complete-1"))
    again = page.post(f"{base}/complete", headers=keyed("page-complete-1"))
    assert_replay(done, again)
    detail = admin.get(base).json()
    assert [event["status"] for event in detail["events"]] == ["started", "completed"]


def test_form_posts_replay_whatever_the_order_of_their_fields(make_study):
    study, page = make_study()
    url = page.url(f"/studies/{study['slug']}/participants/w-2/start")
    key = page.survey_key
    first = requests.post(
        url, data=[("key", key), ("assignment_id", "a-2")], headers=keyed("q-1"), timeout=30
    )
    assert first.status_code == 200, first.text
    repeat = requests.post(
        url, data=[("assignment_id", "a-2"), ("key", key)], headers=keyed("q-1"), timeout=30
    )
    assert_replay(first, repeat)
    other = requests.post(
        url, data=[("key", key), ("assignment_id", "a-3")], headers=keyed("q-1"), timeout=30
    )
    assert_error(other, 422, "idempotency_key_reused", KEY)


def test_same_key_on_a_different_request_is_422(admin, make_study):
    study, _ = make_study()
    first = admin.post("/studies", json={"slug": "first"}, headers=keyed("k-1"))
    assert first.status_code == 201, first.text
    for method_path, kwargs in [
        ("/studies", {"json": {"slug": "second"}}),  # another body
        ("/studies?x=1", {"json": {"slug": "first"}}),  # another query
        (f"/studies/{study['slug']}/survey-key", {}),  # another path
        ("/studies", {"data": b'{"slug": "first"}', "headers": {"Content-Type": "text/plain"}}),
    ]:
        headers = {**kwargs.pop("headers", {}), KEY: "k-1"}
        refused = admin.post(method_path, headers=headers, **kwargs)
        body = assert_error(refused, 422, "idempotency_key_reused", KEY)
        assert "POST /api/v1/studies" in body["message"]
    assert sorted(study_slugs(admin)) == sorted([study["slug"], "first"])


def test_error_answers_are_replayed_too(admin, db):
    invalid = admin.post("/studies", json={"slug": "Not A Slug"}, headers=keyed("bad-1"))
    assert_error(invalid, 422, "validation_error", "slug")
    repeat = admin.post("/studies", json={"slug": "Not A Slug"}, headers=keyed("bad-1"))
    assert_replay(invalid, repeat)
    taken = admin.post("/studies", json={"slug": "dup"})
    assert taken.status_code == 201
    conflict = admin.post("/studies", json={"slug": "dup"}, headers=keyed("dup-2"))
    assert_error(conflict, 409, "slug_taken")
    assert_replay(conflict, admin.post("/studies", json={"slug": "dup"}, headers=keyed("dup-2")))
    assert {record.status for record in records(db)} == {422, 409}


def test_without_the_header_nothing_changes(admin, make_study, db):
    first = admin.post("/studies", json={"slug": "plain"})
    assert first.status_code == 201
    assert_error(admin.post("/studies", json={"slug": "plain"}), 409, "slug_taken")
    study, page = make_study()
    base = f"/studies/{study['slug']}/participants/w-1"
    assert page.post(f"{base}/start").json()["resumed"] is False
    assert page.post(f"{base}/start").json()["resumed"] is True
    # Other methods ignore the header: PUT, PATCH and GET are idempotent already.
    assert page.patch(f"{base}/state", json={"a": 1}, headers=keyed("s-1")).status_code == 200
    assert page.get(f"{base}/state", headers=keyed("s-1")).json() == {"a": 1}
    assert records(db) == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("x" * 256, "is longer than 255 characters"),
        ("tab\there", "printable ASCII"),
        ("caf\u00e9", "printable ASCII"),
        ("del\x7f", "printable ASCII"),
    ],
)
def test_malformed_keys_are_refused_before_anything_happens(admin, db, key, problem):
    refused = admin.post("/studies", json={"slug": "never"}, headers={KEY: key})
    body = assert_error(refused, 422, "invalid_idempotency_key", KEY)
    assert problem in body["fields"][KEY][0]
    assert study_slugs(admin) == [] and records(db) == []


def test_longest_key_is_accepted(admin):
    key = "k" * 254 + "!"
    first = admin.post("/studies", json={"slug": "long"}, headers=keyed(key))
    assert first.status_code == 201
    assert_replay(first, admin.post("/studies", json={"slug": "long"}, headers=keyed(key)))


def test_callers_with_wrong_keys_store_nothing(server, db):
    with ApiClient(server.url, admin_key="cga_not-a-key") as stranger:
        refused = stranger.post("/studies", json={"slug": "x"}, headers=keyed("k"))
    assert_error(refused, 401, "invalid_key")
    with ApiClient(server.url, survey_key="cgs_not-a-key") as page:
        refused = page.post("/studies/x/participants/w/start", headers=keyed("k"))
    assert_error(refused, 401, "invalid_key")
    assert records(db) == []


def test_keys_belong_to_their_caller(make_study, admin, db):
    one, page_one = make_study()
    two, page_two = make_study()
    path = f"/studies/{one['slug']}/participants/w-1/start"
    by_page = page_one.post(path, headers=keyed("shared"))
    assert by_page.status_code == 200
    # An admin acting on the same participant with the same key is a different caller.
    by_admin = admin.post(path, headers=keyed("shared"))
    assert by_admin.status_code == 200 and REPLAYED not in by_admin.headers
    assert by_admin.json()["resumed"] is True
    # So is another study's page, whatever its key reaches.
    other = page_two.post(f"/studies/{two['slug']}/participants/w-1/start", headers=keyed("shared"))
    assert other.status_code == 200 and REPLAYED not in other.headers
    assert len({record.scope for record in records(db)}) == 3


def test_concurrent_repeats_act_once(server, admin_key, admin):
    barrier = threading.Barrier(8)
    answers: list[requests.Response] = []

    def send() -> None:
        with ApiClient(server.url, admin_key=admin_key) as client:
            barrier.wait()
            answers.append(client.post("/studies", json={"slug": "race"}, headers=keyed("race")))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert study_slugs(admin) == ["race"]
    created = [answer for answer in answers if answer.status_code == 201]
    waiting = [answer for answer in answers if answer.status_code != 201]
    assert created and len({answer.content for answer in created}) == 1
    for answer in waiting:
        assert_error(answer, 409, "idempotency_key_in_progress", KEY)
        assert answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_repeat_while_the_first_still_runs_is_409(make_study, server, admin_key, admin, db):
    # Holding the study's row makes the first request wait inside its view, after it
    # has claimed the key: a deterministic "still running" on PostgreSQL.
    study, _ = make_study()
    path = f"/studies/{study['slug']}/survey-key"
    answers: dict[str, requests.Response] = {}

    def rotate() -> None:
        with ApiClient(server.url, admin_key=admin_key) as client:
            answers["first"] = client.post(path, headers=keyed("rotate-1"))

    with db.engine.connect() as connection, connection.begin():
        connection.execute(
            text("SELECT id FROM studies WHERE slug = :slug FOR UPDATE"), {"slug": study["slug"]}
        )
        thread = threading.Thread(target=rotate)
        thread.start()
        wait_until(lambda: len(records(db)) == 1)
        running = admin.post(path, headers=keyed("rotate-1"))
        assert_error(running, 409, "idempotency_key_in_progress", KEY)
        assert running.headers["Retry-After"] == "1"
    thread.join(timeout=30)
    assert answers["first"].status_code == 200, answers["first"].text
    assert_replay(answers["first"], admin.post(path, headers=keyed("rotate-1")))


def test_a_request_that_died_after_acting_never_acts_again(admin, db, clock):
    first = admin.post("/studies", json={"slug": "crash"}, headers=keyed("crash-1"))
    assert first.status_code == 201
    # The state a crash between acting and storing the answer leaves behind.
    with db.write() as session:
        session.execute(
            update(IdempotencyRecord).values(
                status=None, headers=None, body=None, completed_at=None
            )
        )
    running = admin.post("/studies", json={"slug": "crash"}, headers=keyed("crash-1"))
    assert_error(running, 409, "idempotency_key_in_progress", KEY)
    clock.advance(minutes=6)
    dead = admin.post("/studies", json={"slug": "crash"}, headers=keyed("crash-1"))
    assert_error(dead, 409, "idempotency_key_abandoned", KEY)
    assert "Retry-After" not in dead.headers
    clock.advance(hours=20)
    assert_error(
        admin.post("/studies", json={"slug": "crash"}, headers=keyed("crash-1")),
        409,
        "idempotency_key_abandoned",
    )
    assert study_slugs(admin) == ["crash"]


def test_server_errors_are_not_stored_so_a_retry_acts(make_study, db):
    study, page = make_study()
    path = f"/studies/{study['slug']}/participants/w-1/start"
    # A real failure inside the view, after the key is claimed: a table it writes is gone.
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE participant_events RENAME TO participant_events_gone"))
    try:
        failed = page.post(path, headers=keyed("start-1"))
        assert_error(failed, 500, "internal_error")
        assert records(db) == []
    finally:
        with db.engine.begin() as connection:
            connection.execute(
                text("ALTER TABLE participant_events_gone RENAME TO participant_events")
            )
    retried = page.post(path, headers=keyed("start-1"))
    assert retried.status_code == 200 and REPLAYED not in retried.headers
    assert retried.json()["resumed"] is False  # the failed attempt left nothing behind
    assert [record.status for record in records(db)] == [200]


def test_answers_are_kept_24_hours_then_purged(admin, db, clock):
    first = admin.post("/studies", json={"slug": "day-1"}, headers=keyed("daily"))
    assert first.status_code == 201
    clock.advance(hours=23, minutes=59)
    assert_replay(first, admin.post("/studies", json={"slug": "day-1"}, headers=keyed("daily")))
    clock.advance(hours=1)
    # Any later keyed POST sweeps out what is past 24 hours.
    assert admin.post("/studies", json={"slug": "day-2"}, headers=keyed("other")).status_code == 201
    assert [record.key for record in records(db)] == ["other"]
    # The old key is free again: it acts as a new request would.
    reused = admin.post("/studies", json={"slug": "day-3"}, headers=keyed("daily"))
    assert reused.status_code == 201 and REPLAYED not in reused.headers
    assert sorted(study_slugs(admin)) == ["day-1", "day-2", "day-3"]


def test_an_expired_record_frees_its_key_even_before_a_purge(admin, db, clock):
    assert admin.post("/studies", json={"slug": "e-1"}, headers=keyed("e")).status_code == 201
    clock.advance(hours=23, minutes=55)
    assert admin.post("/studies", json={"slug": "e-x"}, headers=keyed("x")).status_code == 201
    clock.advance(minutes=6)  # "e" is past 24 hours; the last purge was 6 minutes ago
    assert {record.key for record in records(db)} == {"e", "x"}
    reused = admin.post("/studies", json={"slug": "e-2"}, headers=keyed("e"))
    assert reused.status_code == 201 and REPLAYED not in reused.headers
