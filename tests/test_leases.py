"""Leases: a started participant holds a place only while the lease runs; time moves by clock."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from crowdgate.db import is_postgresql
from crowdgate.domain import participants
from crowdgate.domain.studies import get_study
from sqlalchemy import text

from tests.http import ApiClient

LEASE = 30  # minutes


class Study:
    """One study with conditions {a: 1, b: 1} and the calls the tests make on it."""

    def __init__(self, make_study: Any, admin: ApiClient) -> None:
        self.json, self.page = make_study(
            conditions=[{"name": "a", "target": 1}, {"name": "b", "target": 1}],
            lease_minutes=LEASE,
        )
        self.admin = admin
        self.slug = self.json["slug"]

    def start(self, worker: str) -> dict[str, Any]:
        response = self.page.post(f"/studies/{self.slug}/participants/{worker}/start")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def detail(self, worker: str) -> dict[str, Any]:
        response = self.admin.get(f"/studies/{self.slug}/participants/{worker}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def patch_state(self, worker: str, values: dict[str, Any]) -> None:
        response = self.page.patch(f"/studies/{self.slug}/participants/{worker}/state", json=values)
        assert response.status_code == 200, response.text

    def complete(self, worker: str) -> str:
        response = self.page.post(f"/studies/{self.slug}/participants/{worker}/complete")
        assert response.status_code == 200, response.text
        return response.json()["completion_code"]  # type: ignore[no-any-return]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def events(detail: dict[str, Any]) -> list[tuple[str, datetime]]:
    return [(event["status"], at(event["at"])) for event in detail["events"]]


def other(condition: str) -> str:
    return {"a": "b", "b": "a"}[condition]


def test_start_grants_a_lease_of_the_study_length(make_study, admin, clock):
    study = Study(make_study, admin)
    started = study.start("w-1")
    assert at(started["lease_expires_at"]) == clock.now + timedelta(minutes=LEASE)


def test_workers_beyond_the_targets_go_to_the_least_over_filled(make_study, admin, clock):
    study = Study(make_study, admin)
    first, second = study.start("w-1"), study.start("w-2")
    assert {first["condition"], second["condition"]} == {"a", "b"}

    # Both places are leased and live: the platform let the worker in, so they get one anyway.
    third = study.start("w-3")
    assert third["status"] == "started" and third["condition"] in {"a", "b"}
    # a and b are now at 2/1 and 1/1: the next goes where there is less over-filling.
    assert study.start("w-4")["condition"] == other(third["condition"])
    assert {study.detail(w)["status"] for w in ("w-1", "w-2", "w-3", "w-4")} == {"started"}


def test_a_lapsed_place_goes_to_the_next_worker(make_study, admin, clock):
    study = Study(make_study, admin)
    started_at = clock.now
    lapsing = study.start("w-1")["condition"]
    assert study.start("w-2")["condition"] == other(lapsing)
    study.complete("w-2")

    swept_at = clock.advance(minutes=LEASE + 1)
    detail = study.detail("w-1")
    assert detail["status"] == "abandoned"
    assert detail["condition"] == lapsing
    assert events(detail) == [("started", started_at), ("abandoned", swept_at)]

    assert study.start("w-3")["condition"] == lapsing


def test_a_lapsed_worker_who_returns_resumes_their_condition(make_study, admin, clock):
    study = Study(make_study, admin)
    started_at = clock.now
    lapsing = study.start("w-1")["condition"]
    study.start("w-2")
    study.complete("w-2")
    swept_at = clock.advance(minutes=LEASE + 1)
    assert study.start("w-3")["condition"] == lapsing  # this start marks w-1 abandoned

    returned_at = clock.advance(minutes=5)
    again = study.start("w-1")
    assert again["resumed"] is True
    assert again["condition"] == lapsing
    assert again["status"] == "started"
    assert again["attempt"] == 1
    assert at(again["lease_expires_at"]) == returned_at + timedelta(minutes=LEASE)

    detail = study.detail("w-1")
    assert detail["status"] == "started"
    assert events(detail) == [
        ("started", started_at),
        ("abandoned", swept_at),
        ("started", returned_at),
    ]
    assert [
        r["worker_id"] for r in admin.get(f"/studies/{study.slug}/participants").json()["items"]
    ] == ["w-1", "w-2", "w-3"]


def test_a_worker_resuming_before_the_lease_lapses_gets_a_longer_lease(make_study, admin, clock):
    study = Study(make_study, admin)
    study.start("w-1")
    resumed_at = clock.advance(minutes=LEASE - 1)
    again = study.start("w-1")
    assert again["resumed"] is True
    assert at(again["lease_expires_at"]) == resumed_at + timedelta(minutes=LEASE)
    clock.advance(minutes=LEASE - 1)
    assert study.detail("w-1")["status"] == "started"
    assert [status for status, _ in events(study.detail("w-1"))] == ["started"]


def test_state_writes_renew_the_lease(make_study, admin, clock):
    study = Study(make_study, admin)
    kept = study.start("w-1")["condition"]
    assert study.start("w-2")["condition"] == other(kept)

    written_at = clock.advance(minutes=LEASE - 10)
    study.patch_state("w-1", {"page": 2})
    clock.advance(minutes=20)  # past w-1's first lease, inside the renewed one

    holder = study.detail("w-1")
    assert holder["status"] == "started"
    assert at(holder["lease_expires_at"]) == written_at + timedelta(minutes=LEASE)
    assert study.detail("w-2")["status"] == "abandoned"
    # Only w-2's place is free: w-1 still holds theirs.
    assert study.start("w-3")["condition"] == other(kept)


def test_replacing_the_state_renews_the_lease_too(make_study, admin, clock):
    study = Study(make_study, admin)
    study.start("w-1")
    written_at = clock.advance(minutes=LEASE - 1)
    response = study.page.put(f"/studies/{study.slug}/participants/w-1/state", json={"p": 1})
    assert response.status_code == 200, response.text
    clock.advance(minutes=LEASE - 1)
    holder = study.detail("w-1")
    assert holder["status"] == "started"
    assert at(holder["lease_expires_at"]) == written_at + timedelta(minutes=LEASE)


def test_a_state_write_after_the_lease_lapsed_does_not_depend_on_a_sweep(make_study, admin, clock):
    unswept, swept = Study(make_study, admin), Study(make_study, admin)
    unswept.start("w-1")
    swept.start("w-1")
    clock.advance(minutes=LEASE + 1)
    assert swept.detail("w-1")["status"] == "abandoned"  # an admin looked at this one

    unswept.patch_state("w-1", {"page": 9})
    swept.patch_state("w-1", {"page": 9})

    revived, abandoned = unswept.detail("w-1"), swept.detail("w-1")
    assert revived["status"] == abandoned["status"], (revived, abandoned)
    assert revived["lease_expires_at"] == abandoned["lease_expires_at"]


def test_completed_participants_keep_their_place_after_the_lease(make_study, admin, clock):
    study = Study(make_study, admin)
    kept = study.start("w-1")["condition"]
    assert study.start("w-2")["condition"] == other(kept)
    code = study.complete("w-1")

    clock.advance(days=3)
    finished = study.detail("w-1")
    assert finished["status"] == "completed"
    assert finished["completion_code"] == code
    assert [status for status, _ in events(finished)] == ["started", "completed"]
    abandoned = admin.get(
        f"/studies/{study.slug}/participants", params={"status": "abandoned"}
    ).json()["items"]
    assert [p["worker_id"] for p in abandoned] == ["w-2"]

    assert study.start("w-3")["condition"] == other(kept)


def test_a_completed_place_still_counts_when_its_lease_has_run_out(make_study, admin, clock):
    # Built so that no pick is a tie: "b" is held by a live lease, "a" by a completion.
    study, page = make_study(conditions=[{"name": "b", "target": 2}], lease_minutes=LEASE)
    slug = study["slug"]
    assert page.post(f"/studies/{slug}/participants/live/start").json()["condition"] == "b"
    conditions = [{"name": "a", "target": 1}, {"name": "b", "target": 2}]
    assert admin.patch(f"/studies/{slug}", json={"conditions": conditions}).status_code == 200
    assert page.post(f"/studies/{slug}/participants/done/start").json()["condition"] == "a"
    assert page.post(f"/studies/{slug}/participants/done/complete").status_code == 200

    clock.advance(minutes=LEASE - 1)
    assert page.patch(f"/studies/{slug}/participants/live/state", json={"p": 2}).ok
    clock.advance(minutes=2)  # past the lease "done" had when it completed

    # a is full (1 of 1) and b half full (1 of 2); forgetting the completion would pick a.
    assert page.post(f"/studies/{slug}/participants/new/start").json()["condition"] == "b"


def test_a_worker_whose_lease_lapsed_may_still_complete(make_study, admin, clock):
    study = Study(make_study, admin)
    study.start("w-1")
    clock.advance(minutes=LEASE + 1)
    assert study.detail("w-1")["status"] == "abandoned"

    completed_at = clock.advance(minutes=1)
    code = study.complete("w-1")
    detail = study.detail("w-1")
    assert detail["status"] == "completed" and detail["completion_code"] == code
    assert at(detail["completed_at"]) == completed_at
    assert [status for status, _ in events(detail)] == ["started", "abandoned", "completed"]


# --- completing while a lapsed lease is being handled ---------------------------------------


def while_completing(db: Any, slug: str, worker: str, now: datetime, other_work: Any) -> None:
    """Run ``other_work(session)`` in its own transaction while ``worker``'s completion holds
    its row, then let the completion commit first.

    On PostgreSQL the other transaction reads before the completion commits and writes after
    it; SQLite's writer lock makes it wait for the completion before reading anything.
    """
    errors: list[Exception] = []

    def run_other_work() -> None:
        try:
            with db.write() as session:
                other_work(session)
        except Exception as exc:  # handed to the test's thread below
            errors.append(exc)

    with db.write() as session:
        participants.complete(session, get_study(session, slug), worker, now=now)
        thread = threading.Thread(target=run_other_work)
        thread.start()
        if is_postgresql(db.engine):
            wait_until_blocked_or_done(db, thread)
    thread.join(timeout=60)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def wait_until_blocked_or_done(db: Any, thread: threading.Thread) -> None:
    """Until a transaction of this database waits for a lock, or ``thread`` needed none."""
    deadline = time.monotonic() + 60
    with db.engine.connect() as connection:
        while thread.is_alive() and time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if waiting:
                return
            time.sleep(0.01)  # polling a lock wait, not a lease: no time is asserted


def test_a_sweep_racing_a_completion_keeps_it_completed(request, make_study, admin, db, clock):
    study = Study(make_study, admin)
    study.start("slow")
    now = clock.advance(minutes=LEASE + 5)  # lapsed, but nobody has swept yet

    def start_someone_else(session: Any) -> None:
        participants.start(session, get_study(session, study.slug), "next", now=now)

    while_completing(db, study.slug, "slow", now, start_someone_else)

    record = study.detail("slow")
    assert record["completion_code"]
    assert record["status"] == "completed"
    assert [e["status"] for e in record["events"]] == ["started", "completed"]


def test_a_resume_racing_a_completion_keeps_it_completed(request, make_study, admin, db, clock):
    study = Study(make_study, admin)
    study.start("slow")
    clock.advance(minutes=LEASE + 5)
    assert study.detail("slow")["status"] == "abandoned"
    now = clock.advance(minutes=1)

    def resume(session: Any) -> None:
        participants.start(session, get_study(session, study.slug), "slow", now=now)

    while_completing(db, study.slug, "slow", now, resume)

    record = study.detail("slow")
    assert record["completion_code"]
    assert record["status"] == "completed"
    assert [e["status"] for e in record["events"]][-1] == "completed"
