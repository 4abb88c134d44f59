"""Bonuses: every refusal, the dry run, and paying each bonus exactly once against the
MTurk emulator, through dropped answers and throttling."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from tests.http import assert_error


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 3,
    }


def start(page: Any, slug: str, worker: str, assignment: str | None = None) -> None:
    body = {"assignment_id": assignment} if assignment else {}
    response = page.post(f"/studies/{slug}/participants/{worker}/start", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def paying(admin: Any, make_study: Any, mturk_emulator: Any) -> Any:
    """A sandbox MTurk study whose workers each started with a seeded assignment."""

    def make(workers: list[str], **fields: Any) -> dict[str, Any]:
        study, page = make_study(platform="mturk", mode="sandbox", **fields)
        hit = mturk_emulator.seed_hit(assignments=len(workers), workers=workers)
        assignment = dict(zip(workers, hit.assignment_ids, strict=True))
        for worker in workers:
            start(page, study["slug"], worker, assignment[worker])
        return {"slug": study["slug"], "page": page, "assignment": assignment, "hit": hit}

    return make


def workers(count: int) -> list[str]:
    return [f"A1BONUS{n:06d}" for n in range(count)]


def emulator_ledger(mturk_emulator: Any) -> Counter[tuple[str, str, Decimal]]:
    return Counter(
        (b.worker_id, b.assignment_id, b.amount) for b in mturk_emulator.state.bonuses.values()
    )


def ledger(admin: Any, slug: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = admin.get(f"/studies/{slug}/bonuses", params=params)
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


def pay(admin: Any, slug: str, items: list[dict[str, Any]], **extra: Any) -> Any:
    response = admin.post(
        f"/studies/{slug}/bonuses", json={"items": items, "dry_run": False, **extra}
    )
    assert response.status_code == 202, response.text
    return response.json()["job"]


def test_every_refusal_is_listed_with_its_reason(admin, paying, mturk_emulator):
    names = workers(4)
    study = paying(names, bonus_cap_per_worker="1.00", bonus_budget="3.00", allow_repeats=True)
    slug, page, assignment = study["slug"], study["page"], study["assignment"]
    start(page, slug, "A1NOASSIGN001")  # a participant with no assignment on record
    repeat = mturk_emulator.seed_hit(assignments=2, workers=["A1TWICE000001"] * 2)
    start(page, slug, "A1TWICE000001", repeat.assignment_ids[0])
    assert page.post(f"/studies/{slug}/participants/A1TWICE000001/complete").status_code == 200
    start(page, slug, "A1TWICE000001", repeat.assignment_ids[1])
    w1, w2, w3, w4 = names
    items = [
        {"worker_id": w1, "amount": "0.50"},
        {"worker_id": w1, "amount": 0.5},
        {"worker_id": w1, "amount": "0.505"},
        {"worker_id": w1, "amount": "0.00"},
        {"worker_id": w1, "amount": "0.10", "reason": "   "},
        {"worker_id": "A1STRANGER001", "amount": "0.10"},
        {"worker_id": "A1NOASSIGN001", "amount": "0.10"},
        {"worker_id": "A1TWICE000001", "amount": "0.10"},
        {"worker_id": w2, "amount": "0.10", "assignment_id": assignment[w1]},
        {"worker_id": w1, "amount": "0.50"},
        {"worker_id": w1, "amount": "0.60", "key": "second"},
        {"worker_id": w2, "amount": "1.00"},
        {"worker_id": w3, "amount": "1.00"},
        {"worker_id": w4, "amount": "1.00"},
    ]
    response = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "reason": "Thanks"})
    assert response.status_code == 200, response.text
    plan = response.json()
    refused = {r["index"]: r["code"] for r in plan["refused"]}
    assert refused == {
        1: "invalid_amount",
        2: "invalid_amount",
        3: "not_positive",
        4: "no_reason",
        5: "not_a_participant",
        6: "no_assignment",
        7: "assignment_ambiguous",
        8: "assignment_not_worker",
        9: "duplicate_in_request",
        10: "over_worker_cap",
        13: "over_budget",
    }
    assert all(r["detail"] for r in plan["refused"])
    assert plan["count"] == 3 and plan["total"] == "2.50"

    # Paying with refused items pays nothing, and says which.
    refusal = admin.post(
        f"/studies/{slug}/bonuses", json={"items": items, "reason": "Thanks", "dry_run": False}
    )
    assert_error(refusal, 422, "bonus_items_refused", "items")
    assert len(refusal.json()["refused"]) == len(refused)
    assert mturk_emulator.faults.calls["SendBonus"] == 0
    assert ledger(admin, slug) == []

    # The same key again with another amount is a conflict, not a second bonus.
    pay(admin, slug, [{"worker_id": w1, "amount": "0.20", "key": "k", "reason": "Thanks"}])
    conflict = admin.post(
        f"/studies/{slug}/bonuses",
        json={"items": [{"worker_id": w1, "amount": "0.30", "key": "k"}], "reason": "Thanks"},
    ).json()
    assert [r["code"] for r in conflict["refused"]] == ["key_conflict"]
    # The cap counts what was paid before: 0.20 paid, so 0.90 more is over it.
    over = admin.post(
        f"/studies/{slug}/bonuses",
        json={"items": [{"worker_id": w1, "amount": "0.90"}], "reason": "Thanks"},
    ).json()
    assert [r["code"] for r in over["refused"]] == ["over_worker_cap"]


def test_bad_requests_are_422_naming_the_field(admin, paying):
    slug = paying(workers(1))["slug"]
    url = f"/studies/{slug}/bonuses"
    assert_error(admin.post(url, json={}), 422, "validation_error", "items")
    both = {"items": [{"worker_id": "A1X", "amount": "1"}], "from_state": "bonus"}
    assert_error(admin.post(url, json=both), 422, "validation_error", "items")
    assert_error(admin.post(url, json={"from_state": "bonus"}), 422, "validation_error", "reason")
    no_worker = {"items": [{"amount": "1.00"}]}
    assert_error(admin.post(url, json=no_worker), 422, "validation_error", "items.0.worker_id")
    assert_error(admin.get(f"{url}?state=lost"), 422, "validation_error", "state")


def test_a_study_without_a_platform_cannot_pay(admin, make_study):
    study, page = make_study(platform="none")
    start(page, study["slug"], "A1NOPLATFORM1")
    response = admin.post(
        f"/studies/{study['slug']}/bonuses",
        json={"items": [{"worker_id": "A1NOPLATFORM1", "amount": "1.00"}], "reason": "x"},
    )
    assert_error(response, 409, "not_supported_by_platform")


def test_dry_run_is_a_plan_that_pays_nothing(admin, paying, mturk_emulator):
    names = workers(3)
    slug = paying(names)["slug"]
    items = [{"worker_id": w, "amount": "0.50"} for w in names[:2]]
    items.append({"worker_id": names[2], "amount": "0.04"})
    response = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "reason": "Thanks"})
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["dry_run"] is True
    assert plan["count"] == 3
    assert plan["total"] == "1.04"
    assert plan["fee"] == "0.21"  # 20% each, at least $0.01
    assert plan["cost"] == "1.25"
    assert plan["balance"] == "10000.00" and plan["sufficient"] is True
    assert plan["currency"] == "USD" and plan["refused"] == []
    mturk_emulator.set_balance("1.00")
    short = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "reason": "x"}).json()
    assert short["balance"] == "1.00" and short["sufficient"] is False
    assert mturk_emulator.faults.calls["SendBonus"] == 0
    assert mturk_emulator.state.bonuses == {}
    assert ledger(admin, slug) == []


def test_pay_pays_each_once_and_resubmitting_pays_nothing_more(admin, paying, mturk_emulator):
    names = workers(20)
    study = paying(names)
    slug = study["slug"]
    items = [{"worker_id": w, "amount": "0.25", "reason": "Thanks"} for w in names]
    items.append(
        {"worker_id": names[0], "amount": "0.25", "reason": "Thanks", "key": "second-round"}
    )
    response = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "dry_run": False})
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"/jobs/{response.json()['job_id']}")
    job = response.json()["job"]
    assert job["state"] == "succeeded", job
    assert job["total"] == 21 and job["done"] == 21 and job["counts"]["sent"] == 21
    paid = emulator_ledger(mturk_emulator)
    assert sum(paid.values()) == 21
    assert paid[(names[0], study["assignment"][names[0]], Decimal("0.25"))] == 2
    assert all(count == 1 for key, count in paid.items() if key[0] != names[0])
    rows = ledger(admin, slug)
    assert len(rows) == 21 and {r["state"] for r in rows} == {"sent"}
    assert all(r["platform_response"]["token"] == f"crowdgate-bonus-{r['id']}" for r in rows)
    tokens = {b.token for b in mturk_emulator.state.bonuses.values()}
    assert tokens == {r["platform_response"]["token"] for r in rows}

    again = admin.post(f"/studies/{slug}/bonuses", json={"items": items}).json()
    assert again["count"] == 0 and again["existing"] == 21 and again["refused"] == []
    job = pay(admin, slug, items)
    assert job["state"] == "succeeded" and job["total"] == 0
    assert sum(emulator_ledger(mturk_emulator).values()) == 21
    assert len(ledger(admin, slug)) == 21
    sent = admin.get(f"/studies/{slug}/bonuses", params={"state": "sent", "limit": 1000})
    assert len(sent.json()["items"]) == 21


def test_from_state_pays_what_each_participant_earned(admin, paying, mturk_emulator):
    names = workers(4)
    study = paying(names)
    slug, page = study["slug"], study["page"]
    earned = {names[0]: "0.75", names[1]: 1.5, names[2]: "0.10"}
    for worker, amount in earned.items():
        put = page.put(f"/studies/{slug}/participants/{worker}/state", json={"bonus": amount})
        assert put.status_code == 200, put.text
    body = {"from_state": "bonus", "reason": "Your bonus"}
    plan = admin.post(f"/studies/{slug}/bonuses", json=body).json()
    assert plan["count"] == 3 and plan["total"] == "2.35" and plan["without_value"] == 1
    job = admin.post(f"/studies/{slug}/bonuses", json={**body, "dry_run": False}).json()["job"]
    assert job["state"] == "succeeded" and job["done"] == 3
    assert emulator_ledger(mturk_emulator) == Counter(
        (w, study["assignment"][w], Decimal(str(a)).quantize(Decimal("0.01")))
        for w, a in earned.items()
    )
    again = admin.post(f"/studies/{slug}/bonuses", json={**body, "dry_run": False}).json()
    assert again["job"]["total"] == 0
    assert sum(emulator_ledger(mturk_emulator).values()) == 3


def test_answers_lost_after_paying_never_pay_twice(admin, paying, mturk_emulator):
    """Each SendBonus takes effect and its answer is lost, and then the platform stops
    answering: the job cannot confirm them and stops with the rows 'sending'. Sent
    again once the platform answers, each is found paid, not paid again."""
    names = workers(6)
    study = paying(names)
    slug = study["slug"]
    items = [{"worker_id": w, "amount": "0.30", "reason": "Thanks"} for w in names]
    mturk_emulator.faults.fail_next("SendBonus", "drop", times=6)
    mturk_emulator.faults.fail_next("SendBonus", "error", times=500)
    response = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "dry_run": False})
    assert response.status_code == 202, response.text
    job = response.json()["job"]
    assert job["state"] == "failed" and job["counts"]["unsent"] >= 1, job
    assert job["error_code"] == "platform_unavailable"
    unsent = job["counts"]["unsent"]
    states = Counter(r["state"] for r in ledger(admin, slug))
    assert states["sending"] == unsent and states["sent"] == 6 - unsent
    # Which call met which fault depends on the threads' timing; at most once each.
    paid_before = sum(emulator_ledger(mturk_emulator).values())
    assert set(emulator_ledger(mturk_emulator).values()) == {1} and paid_before >= unsent - 1

    mturk_emulator.faults.reset()
    job = pay(admin, slug, items)
    assert job["state"] == "succeeded", job
    found_paid = paid_before - (6 - unsent)
    # The job finishes the rows left unsent; the one sent before stays the first job's.
    assert job["counts"]["settled_after_restart"] == found_paid
    assert job["total"] == job["done"] == unsent
    # Those found in ListBonusPayments are not sent again; only the others are.
    assert mturk_emulator.faults.calls["SendBonus"] == unsent - found_paid
    paid = emulator_ledger(mturk_emulator)
    assert sorted(paid.values()) == [1] * 6
    rows = ledger(admin, slug)
    assert {r["state"] for r in rows} == {"sent"}
    assert {(r["worker_id"], r["assignment_id"]) for r in rows} == {(w, a) for w, a, _ in paid}


def test_unclear_rows_are_sent_again_with_their_token_when_the_platform_cannot_tell(
    admin, paying, mturk_emulator
):
    """With ListBonusPayments failing too, an unclear row is sent again: its token
    makes MTurk answer "already done", so nothing is paid twice."""
    names = workers(4)
    slug = paying(names)["slug"]
    items = [{"worker_id": w, "amount": "0.30", "reason": "Thanks"} for w in names]
    mturk_emulator.faults.fail_next("SendBonus", "drop", times=4)
    mturk_emulator.faults.fail_next("SendBonus", "error", times=500)
    job = pay(admin, slug, items)
    assert job["state"] == "failed", job
    mturk_emulator.faults.reset()
    mturk_emulator.faults.fail_next("ListBonusPayments", "error", times=500)
    job = pay(admin, slug, items)
    assert job["state"] == "succeeded" and job["done"] == job["total"], job
    assert sorted(emulator_ledger(mturk_emulator).values()) == [1] * 4


def test_some_answers_lost_mid_job_are_recognised_by_token(admin, paying, mturk_emulator):
    names = workers(12)
    slug = paying(names)["slug"]
    items = [{"worker_id": w, "amount": "0.40", "reason": "Thanks"} for w in names]
    mturk_emulator.faults.fail_next("SendBonus", "drop", times=4, after=3)
    mturk_emulator.faults.fail_next("SendBonus", "500", times=2)
    job = pay(admin, slug, items)
    assert job["state"] == "succeeded", job
    assert job["done"] == 12
    assert mturk_emulator.faults.injected["drop"] == 4
    paid = emulator_ledger(mturk_emulator)
    assert sum(paid.values()) == 12 and set(paid.values()) == {1}
    assert {r["state"] for r in ledger(admin, slug)} == {"sent"}


def test_throttling_ends_with_everything_sent(admin, paying, mturk_emulator):
    names = workers(30)
    slug = paying(names)["slug"]
    items = [{"worker_id": w, "amount": "0.05", "reason": "Thanks"} for w in names]
    mturk_emulator.faults.configure(throttle_rate=0.3, seed=7)
    job = pay(admin, slug, items)
    assert job["state"] == "succeeded", job
    assert job["done"] == 30
    assert mturk_emulator.faults.injected["throttle"] > 0
    paid = emulator_ledger(mturk_emulator)
    assert sum(paid.values()) == 30 and set(paid.values()) == {1}


def test_a_refused_bonus_fails_and_the_others_go_on(admin, paying, mturk_emulator):
    names = workers(3)
    slug = paying(names)["slug"]
    mturk_emulator.set_balance("0.70")  # enough for one bonus of 0.50 and its fee
    items = [{"worker_id": w, "amount": "0.50", "reason": "Thanks"} for w in names]
    job = pay(admin, slug, items)
    assert job["done"] == 1 and job["failed"] == 2, job
    failed = [r for r in ledger(admin, slug) if r["state"] == "failed"]
    assert len(failed) == 2 and all(r["last_error"] for r in failed)


def test_live_mode_needs_confirm(admin, make_study, mturk_emulator):
    study, page = make_study(platform="mturk", mode="sandbox")
    slug = study["slug"]
    hit = mturk_emulator.seed_hit(assignments=1, workers=["A1LIVEWORKER1"])
    start(page, slug, "A1LIVEWORKER1", hit.assignment_ids[0])
    assert admin.patch(f"/studies/{slug}", json={"mode": "live"}).status_code == 200
    items = [{"worker_id": "A1LIVEWORKER1", "amount": "1.00", "reason": "Thanks"}]
    response = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "dry_run": False})
    assert_error(response, 422, "confirmation_required", "confirm")
    assert mturk_emulator.faults.calls["SendBonus"] == 0
    assert ledger(admin, slug) == []


def test_cap_and_budget_are_study_fields(admin, make_study):
    study, _ = make_study(platform="mturk", bonus_cap_per_worker="2.50", bonus_budget="100")
    assert study["bonus_cap_per_worker"] == "2.50" and study["bonus_budget"] == "100.00"
    slug = study["slug"]
    changed = admin.patch(f"/studies/{slug}", json={"bonus_cap_per_worker": None})
    assert changed.status_code == 200 and changed.json()["bonus_cap_per_worker"] is None
    bad = admin.patch(f"/studies/{slug}", json={"bonus_budget": 5})
    assert_error(bad, 422, "validation_error", "bonus_budget")
