"""Bonuses on Prolific, against the Prolific emulator over HTTP, on both databases.

Prolific pays a bulk bonus with a call that is not idempotent: paying it twice pays
everyone twice. These tests lose that call's answer in every way the emulator can
(paid then 500, paid then the connection dropped, paid minutes later, refused before
paying, throttled) and check that every participant is paid exactly once.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from crowdgate.api.platform_access import client_for
from crowdgate.db import Database
from crowdgate.domain import bonus_batches, bonus_rows, jobs
from crowdgate.models import Bonus, Job
from crowdgate.platforms.records import BonusBatch
from crowdgate.testing import ProlificEmulator
from sqlalchemy import select, update

from tests.http import ApiClient
from tests.prolific_fixtures import prolific_settings
from tests.test_bonus_jobs import wait_job

PEOPLE = [f"{0xB0000 + n:024x}" for n in range(60)]


@pytest.fixture
def app_config(
    app_config: dict[str, Any], prolific_env: ProlificEmulator, request: pytest.FixtureRequest
) -> dict[str, Any]:
    return {
        **app_config,
        # The wall clock: waiting for an unclear pay to show takes real time.
        "CROWDGATE_CLOCK": None,
        **prolific_settings(prolific_env, max_attempts=3),
        "CROWDGATE_PROLIFIC_PAY_SETTLE_SECONDS": 1.5,
        **getattr(request, "param", {}),
    }


class ProlificPaying:
    def __init__(
        self, slug: str, study_id: str, people: list[str], submissions: list[str], survey_key: str
    ) -> None:
        self.survey_key = survey_key
        self.slug = slug
        self.study_id = study_id
        self.people = people
        self.submission = dict(zip(people, submissions, strict=True))

    def items(self, people: list[str] | None = None) -> list[dict[str, Any]]:
        return [
            {"worker_id": p, "amount": amount(self.people.index(p)), "reason": "Thanks"}
            for p in (people if people is not None else self.people)
        ]

    def expected(self, people: list[str] | None = None) -> Counter[tuple[str, str, int]]:
        """One payment (participant, submission, minor units) per item."""
        return Counter(
            (p, self.submission[p], int(Decimal(amount(self.people.index(p))) * 100))
            for p in (people if people is not None else self.people)
        )


def amount(n: int) -> str:
    # Amounts differ between participants, so a payment to the wrong one would show.
    return f"0.{10 + n % 90:02d}"


def paying_study(
    admin: ApiClient,
    emulator: ProlificEmulator,
    people: list[str],
    *,
    slug: str = "paying",
    run_queued: Callable[[str], Any] | None = None,
) -> ProlificPaying:
    """A Prolific study whose participants came in by a sync of its submissions."""
    emulator.set_balance("100000.00")
    seeded = emulator.seed_study(places=len(people), participants=people)
    created = admin.post(
        "/studies",
        json={
            "slug": slug,
            "platform": "prolific",
            "mode": "sandbox",
            "hit_ids": [seeded.study_id],
        },
    )
    assert created.status_code == 201, created.text
    synced = admin.post(f"/studies/{slug}/sync")
    assert synced.status_code == 202, synced.text
    if run_queued is not None:
        run_queued(synced.json()["job_id"])
    job = finished(admin, synced.json()["job_id"])
    assert job["state"] == "succeeded" and job["counts"]["added"] == len(people), job
    return ProlificPaying(
        slug,
        seeded.study_id,
        people,
        list(seeded.submission_ids),
        created.json()["survey_key"],
    )


def finished(admin: ApiClient, job_id: str) -> dict[str, Any]:
    return wait_job(admin, job_id, timeout=120)


def pay_queued(admin: ApiClient, slug: str, items: list[dict[str, Any]]) -> str:
    """Pay ``items``; the job's id (an inline job has ended when it answers)."""
    response = admin.post(
        f"/studies/{slug}/bonuses", json={"items": items, "dry_run": False}, timeout=300
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job"]["job_id"])


def pay(admin: ApiClient, slug: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return finished(admin, pay_queued(admin, slug, items))


def paid(emulator: ProlificEmulator) -> Counter[tuple[str, str, int]]:
    with emulator.state.lock:
        return Counter(
            (p.participant_id, p.submission_id, p.amount) for p in emulator.state.payments
        )


def times_paid(emulator: ProlificEmulator) -> list[int]:
    with emulator.state.lock:
        return sorted(b.times_paid for b in emulator.state.bulk_bonuses.values())


def rows(db: Database) -> list[Bonus]:
    with db.read() as session:
        return list(session.scalars(select(Bonus).order_by(Bonus.id)))


def test_plan_has_prolifics_fee_currency_and_workspace_balance(
    admin: ApiClient, prolific_emulator: ProlificEmulator
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:3])
    items = [{"worker_id": p, "amount": "1.00", "reason": "Thanks"} for p in PEOPLE[:3]]
    response = admin.post(f"/studies/{study.slug}/bonuses", json={"items": items})
    assert response.status_code == 200, response.text
    plan = response.json()
    # A third of each pound, rounded up to the penny: 0.34 each.
    assert (plan["count"], plan["total"], plan["fee"], plan["cost"]) == (3, "3.00", "1.02", "4.02")
    assert plan["currency"] == "GBP" and plan["balance"] == "100000.00"
    assert prolific_emulator.state.payments == []


def test_bonuses_go_out_as_one_bulk_bonus_paid_once(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Database
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:30])
    before = prolific_emulator.state.balance
    job = pay(admin, study.slug, study.items())
    assert job["state"] == "succeeded", job
    assert (job["total"], job["done"], job["failed"]) == (30, 30, 0), job
    assert paid(prolific_emulator) == study.expected()
    assert times_paid(prolific_emulator) == [1]
    amounts = sum(int(Decimal(amount(n)) * 100) for n in range(30))
    assert before - prolific_emulator.state.balance >= amounts  # the fees on top
    ledger = rows(db)
    assert {r.state for r in ledger} == {"sent"}
    assert len({r.batch_id for r in ledger}) == 1 and all(r.pay_requested_at for r in ledger)

    # The same items again are the same rows: nothing is set up or paid.
    calls = (
        prolific_emulator.faults.calls["SetUpBonus"] + prolific_emulator.faults.calls["PayBonus"]
    )
    again = pay(admin, study.slug, study.items())
    assert again["state"] == "succeeded" and again["total"] == 0, again
    assert (
        prolific_emulator.faults.calls["SetUpBonus"] + prolific_emulator.faults.calls["PayBonus"]
        == calls
    )
    assert paid(prolific_emulator) == study.expected()


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_a_pay_whose_answer_is_lost_is_found_paid_not_paid_again(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Database, fault: str
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:20])
    # Prolific pays "in the following minutes": the payments show half a second after
    # the pay was taken, within the settle window (1.5 s).
    prolific_emulator.pay_delay = 0.5
    prolific_emulator.faults.fail_next("PayBonus", fault, times=1)
    job = pay(admin, study.slug, study.items())
    assert job["state"] == "succeeded", job
    assert job["done"] == 20 and job["counts"]["settled_after_restart"] == 20, job
    assert prolific_emulator.faults.calls["PayBonus"] == 1  # never sent again
    assert times_paid(prolific_emulator) == [1]
    assert paid(prolific_emulator) == study.expected()
    assert all(r.platform_response.get("settled") for r in rows(db))


def test_a_pay_refused_before_paying_is_set_up_again_once_its_window_passes(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Database
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:10])
    # A 500 before anything is paid: crowdgate cannot tell it from a lost answer, so
    # it waits the settle window, finds nothing paid, and pays a new bulk bonus.
    prolific_emulator.faults.fail_next("PayBonus", "error", times=1)
    job = pay(admin, study.slug, study.items())
    assert job["state"] == "succeeded" and job["done"] == 10, job
    assert times_paid(prolific_emulator) == [0, 1]  # the first bulk bonus never paid
    assert paid(prolific_emulator) == study.expected()
    assert len({r.batch_id for r in rows(db)}) == 1


def test_a_throttled_pay_is_retried_and_paid_once(
    admin: ApiClient, prolific_emulator: ProlificEmulator
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:5])
    prolific_emulator.faults.fail_next("PayBonus", "throttle", times=2)
    job = pay(admin, study.slug, study.items())
    assert job["state"] == "succeeded" and job["done"] == 5, job
    assert prolific_emulator.faults.calls["PayBonus"] == 3
    assert times_paid(prolific_emulator) == [1]
    assert paid(prolific_emulator) == study.expected()


def test_a_participant_prolific_refuses_fails_alone(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Database
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:8])
    # A participant crowdgate recorded with a session Prolific does not know for the
    # study (a hand-typed link): Prolific refuses the whole set-up for that one line.
    stranger = PEOPLE[40]
    with ApiClient(admin.base_url, survey_key=study.survey_key) as page:
        started = page.post(
            f"/studies/{study.slug}/participants/{stranger}/start",
            params={"STUDY_ID": study.study_id, "SESSION_ID": "f" * 24, "PROLIFIC_PID": stranger},
        )
    assert started.status_code == 200, started.text
    items = study.items() + [{"worker_id": stranger, "amount": "0.50", "reason": "Thanks"}]
    job = pay(admin, study.slug, items)
    # The job ends; the refused item is failed in the ledger, with Prolific's words.
    assert job["state"] == "succeeded" and (job["done"], job["failed"]) == (8, 1), job
    assert paid(prolific_emulator) == study.expected()
    refused = [r for r in rows(db) if r.state == "failed"]
    assert [r.worker_id for r in refused] == [stranger]
    assert "did not" in (refused[0].last_error or "") and refused[0].pay_requested_at is None


def test_a_pay_refused_for_a_low_balance_pays_nothing_and_says_why(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Database
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE[:4])
    prolific_emulator.set_balance("0.10")
    job = pay(admin, study.slug, study.items())
    assert job["state"] == "succeeded" and (job["done"], job["failed"]) == (0, 4), job
    assert prolific_emulator.state.payments == []
    assert all("too low" in (r.last_error or "") for r in rows(db))


@pytest.mark.parametrize("app_config", [{"CROWDGATE_JOB_RUNNER": "queue"}], indirect=True)
def test_a_runner_whose_rows_were_taken_over_does_not_pay_them(
    admin: ApiClient, prolific_emulator: ProlificEmulator, db: Database, app: Any
) -> None:
    """A runner that stalled past the stale limit while its job was taken over must not
    pay a batch once any of its rows belongs to the new owner."""
    state = app.extensions["crowdgate"]
    connect = functools.partial(client_for, app)

    def run_queued(job_id: str) -> None:
        jobs.run_job(db, job_id, clock=state.clock, connect=connect)

    study = paying_study(admin, prolific_emulator, PEOPLE[:3], run_queued=run_queued)
    job_id = pay_queued(admin, study.slug, study.items())
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.state == "queued"
        study_id = job.study_id
    run = jobs.JobRun(
        job_id=job_id,
        kind="bonus",
        study_id=study_id,
        params={},
        db=db,
        clock=state.clock,
        connect=connect,
        runner="stalled",
    )
    claimed = bonus_rows.next_batch(run)
    assert claimed is not None and len(claimed) == 3
    with db.write() as session:  # the new owner settles one of the rows
        session.execute(
            update(Bonus).where(Bonus.id == claimed[0].id).values(claimed_by="new-owner")
        )
    batch = BonusBatch("a" * 24, Decimal("1.00"), Decimal("0.34"))
    assert bonus_batches._record_pays(run, [(batch, claimed)]) == []
    assert all(r.pay_requested_at is None for r in rows(db))

    # Rows it still holds, in a batch of their own, are recorded and may be paid.
    assert bonus_batches._record_pays(run, [(batch, claimed[1:])]) == [(batch, claimed[1:])]
    assert [r.pay_requested_at is not None for r in rows(db)] == [False, True, True]
    assert prolific_emulator.state.payments == []
