"""Completion codes: one per participant, unguessable, unique within a study, forgiving to type."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from crowdgate.domain import participants
from crowdgate.domain.completion_codes import ALPHABET, generate_code
from crowdgate.domain.studies import get_study

from tests.http import ApiClient, assert_error

# Written out rather than imported: these are the characters people can copy by hand.
READABLE = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def start(page: ApiClient, slug: str, worker: str) -> dict[str, Any]:
    response = page.post(f"/studies/{slug}/participants/{worker}/start")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def complete(page: ApiClient, slug: str, worker: str) -> str:
    response = page.post(f"/studies/{slug}/participants/{worker}/complete")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed" and body["worker_id"] == worker
    return body["completion_code"]  # type: ignore[no-any-return]


def detail(admin: ApiClient, slug: str, worker: str) -> dict[str, Any]:
    response = admin.get(f"/studies/{slug}/participants/{worker}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def statuses(record: dict[str, Any]) -> list[str]:
    return [event["status"] for event in record["events"]]


def verify(client: ApiClient, slug: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/studies/{slug}/codes/verify", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# --- one code per participant -------------------------------------------------------------


def test_completing_twice_returns_the_same_code(make_study, admin, clock):
    study, page = make_study()
    start(page, study["slug"], "w-1")
    code = complete(page, study["slug"], "w-1")

    clock.advance(minutes=5)
    assert complete(page, study["slug"], "w-1") == code
    record = detail(admin, study["slug"], "w-1")
    assert record["completion_code"] == code
    assert statuses(record) == ["started", "completed"]


def test_concurrent_completes_of_one_worker_return_one_code(make_study, admin, server):
    study, page = make_study(conditions=[{"name": "a", "target": 3}])
    start(page, study["slug"], "w-1")
    barrier = threading.Barrier(20)

    def complete_once(_: int) -> requests.Response:
        with ApiClient(server.url, survey_key=study["survey_key"]) as own:
            barrier.wait(timeout=60)
            return own.post(f"/studies/{study['slug']}/participants/w-1/complete")

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(complete_once, range(20)))

    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses][:3]
    codes = {r.json()["completion_code"] for r in responses}
    assert len(codes) == 1
    record = detail(admin, study["slug"], "w-1")
    assert record["completion_code"] in codes
    assert statuses(record) == ["started", "completed"]


def test_completing_a_worker_who_never_started_is_not_found(make_study):
    study, page = make_study()
    start(page, study["slug"], "w-1")
    response = page.post(f"/studies/{study['slug']}/participants/w-2/complete")
    assert_error(response, 404, "participant_not_found")


# --- what a code looks like ---------------------------------------------------------------


def assert_readable_and_strong(code: str) -> None:
    assert set(code) <= set(READABLE), code
    assert len(code) * math.log2(len(READABLE)) >= 40, code


def test_codes_handed_out_are_readable_and_carry_40_bits(make_study):
    study, page = make_study()
    codes = []
    for index in range(20):
        start(page, study["slug"], f"w-{index}")
        codes.append(complete(page, study["slug"], f"w-{index}"))
    for code in codes:
        assert_readable_and_strong(code)
    assert len(set(codes)) == 20


def test_the_alphabet_leaves_out_characters_people_confuse():
    assert ALPHABET == READABLE
    assert not set("0O1Il") & set(ALPHABET)
    assert len(set(ALPHABET)) == 32


def test_a_hundred_thousand_generated_codes_are_distinct():
    codes = [generate_code() for _ in range(100_000)]
    assert len(set(codes)) == 100_000
    assert {len(code) for code in codes} == {len(codes[0])}
    assert_readable_and_strong(codes[0])
    # Every character of the alphabet turns up, and nothing else does.
    assert set("".join(codes)) == set(READABLE)


# --- uniqueness within a study ------------------------------------------------------------


def drawing(*codes: str) -> tuple[Callable[[], str], list[str]]:
    """A ``generate`` that hands out ``codes`` in turn, and the list of codes it handed out."""
    drawn: list[str] = []

    def generate() -> str:
        code = codes[len(drawn)] if len(drawn) < len(codes) else codes[-1]
        drawn.append(code)
        return code

    return generate, drawn


def test_a_code_taken_in_the_study_is_drawn_again(make_study, admin, db, clock):
    study, page = make_study()
    slug = study["slug"]
    start(page, slug, "w-1")
    start(page, slug, "w-2")
    taken = complete(page, slug, "w-1")
    fresh = generate_code()
    assert fresh != taken
    generate, drawn = drawing(taken, fresh)

    with db.write() as session:
        participant = participants.complete(
            session, get_study(session, slug), "w-2", now=clock.now, generate=generate
        )
        assert participant.completion_code == fresh
        assert participant.status == "completed"

    assert drawn == [taken, fresh]
    second = detail(admin, slug, "w-2")
    assert second["completion_code"] == fresh
    assert statuses(second) == ["started", "completed"]
    assert detail(admin, slug, "w-1")["completion_code"] == taken
    assert verify(page, slug, code=fresh, worker_id="w-2")["valid"] is True
    assert verify(page, slug, code=taken, worker_id="w-1")["valid"] is True


def test_codes_only_need_to_be_unique_within_a_study(make_study, admin, db, clock):
    first, first_page = make_study()
    second, second_page = make_study()
    start(first_page, first["slug"], "w-1")
    start(second_page, second["slug"], "w-1")
    shared = complete(first_page, first["slug"], "w-1")
    generate, drawn = drawing(shared)

    with db.write() as session:
        participants.complete(
            session, get_study(session, second["slug"]), "w-1", now=clock.now, generate=generate
        )

    assert drawn == [shared]
    assert detail(admin, second["slug"], "w-1")["completion_code"] == shared


def test_giving_up_after_endless_collisions_changes_nothing(make_study, admin, db, clock):
    study, page = make_study()
    slug = study["slug"]
    start(page, slug, "w-1")
    start(page, slug, "w-2")
    taken = complete(page, slug, "w-1")
    generate, drawn = drawing(taken)

    with pytest.raises(RuntimeError, match="completion code"), db.write() as session:
        participants.complete(
            session, get_study(session, slug), "w-2", now=clock.now, generate=generate
        )

    assert len(drawn) == 16 and set(drawn) == {taken}
    record = detail(admin, slug, "w-2")
    assert record["status"] == "started" and record["completion_code"] is None
    assert statuses(record) == ["started"]
    assert complete(page, slug, "w-2") not in {taken, None}


# --- checking a code ----------------------------------------------------------------------


@pytest.fixture
def completed(make_study: Any) -> tuple[str, ApiClient, dict[str, str]]:
    """A study where w-1 and w-2 have completed; returns slug, survey client and their codes."""
    study, page = make_study(conditions=[{"name": "only", "target": 2}])
    codes = {}
    for worker in ("w-1", "w-2"):
        start(page, study["slug"], worker)
        codes[worker] = complete(page, study["slug"], worker)
    return study["slug"], page, codes


def sloppy(code: str) -> str:
    """The code as someone types it: lower case, with spaces around and inside."""
    lower = code.lower()
    return f"  {lower[:4]} {lower[4:]}\t"


def test_verify_forgives_lower_case_and_stray_spaces(completed):
    slug, page, codes = completed
    assert verify(page, slug, code=sloppy(codes["w-1"]), worker_id="w-1") == {
        "valid": True,
        "worker_id": "w-1",
    }
    posted = page.post(
        f"/studies/{slug}/codes/verify", json={"code": sloppy(codes["w-2"]), "worker_id": "w-2"}
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"valid": True, "worker_id": "w-2"}


def test_admin_verify_forgives_typing_and_names_the_holder(completed, admin):
    slug, _, codes = completed
    assert verify(admin, slug, code=sloppy(codes["w-1"])) == {
        "valid": True,
        "worker_id": "w-1",
        "status": "completed",
        "condition": "only",
    }


def test_admin_verify_of_another_workers_code_names_that_worker(completed, admin):
    slug, _, codes = completed
    assert verify(admin, slug, code=codes["w-1"], worker_id="w-2") == {
        "valid": False,
        "reason": "other_worker",
        "worker_id": "w-2",
        "code_worker_id": "w-1",
    }


def test_survey_verify_of_another_workers_code_names_no_one(completed):
    slug, page, codes = completed
    assert verify(page, slug, code=codes["w-1"], worker_id="w-2") == {
        "valid": False,
        "reason": "no_match",
        "worker_id": "w-2",
    }


def test_an_unknown_code_is_unknown(completed, admin):
    slug, page, codes = completed
    unknown = next(c for c in iter(generate_code, None) if c not in codes.values())
    assert verify(admin, slug, code=unknown) == {
        "valid": False,
        "reason": "unknown_code",
        "worker_id": None,
    }
    assert verify(admin, slug, code=unknown, worker_id="w-1")["reason"] == "unknown_code"
    assert verify(page, slug, code=unknown, worker_id="w-1")["reason"] == "no_match"


def test_a_code_of_another_study_is_unknown_here(completed, make_study, admin):
    slug, _, codes = completed
    other, other_page = make_study()
    start(other_page, other["slug"], "w-1")
    assert verify(admin, other["slug"], code=codes["w-1"])["reason"] == "unknown_code"
    assert verify(other_page, other["slug"], code=codes["w-1"], worker_id="w-1")["valid"] is False
