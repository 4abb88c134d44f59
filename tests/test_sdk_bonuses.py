"""The SDK's bonus calls against a live service and the MTurk emulator: a plan that pays
nothing, a payment, a repeat that pays nothing more, and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator
from crowdgate_client import Bonus, BonusPlan, Client, ValidationError


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env}


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


WORKERS = ["A1SDKBONUS0001", "A1SDKBONUS0002", "A1SDKBONUS0003"]


def test_plan_pay_repeat_and_ledger(
    sdk: Client, make_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    study, page = make_study(platform="mturk", mode="sandbox")
    slug = study["slug"]
    hit = mturk_emulator.seed_hit(assignments=3, workers=WORKERS)
    for worker, assignment in zip(WORKERS, hit.assignment_ids, strict=True):
        started = page.post(
            f"/studies/{slug}/participants/{worker}/start", json={"assignment_id": assignment}
        )
        assert started.status_code == 200, started.text
    items = [
        {"worker_id": WORKERS[0], "amount": Decimal("0.50")},
        {"worker_id": WORKERS[1], "amount": "1.25", "reason": "Top score"},
        {"worker_id": "A1NOTHERE00001", "amount": "0.10"},
    ]

    plan = sdk.bonuses.plan(slug, items, reason="Thanks for your care")
    assert isinstance(plan, BonusPlan)
    assert (plan.count, plan.total, plan.fee) == (2, Decimal("1.75"), Decimal("0.35"))
    assert plan.currency == "USD" and plan.sufficient is True
    assert [(r.index, r.code) for r in plan.refused] == [(2, "not_a_participant")]
    assert mturk_emulator.state.bonuses == {}

    with pytest.raises(ValidationError) as refused:
        sdk.bonuses.pay(slug, items, reason="Thanks for your care")
    assert refused.value.code == "bonus_items_refused"
    assert mturk_emulator.state.bonuses == {}

    job = sdk.bonuses.pay(slug, items[:2], reason="Thanks for your care")
    assert job.state == "succeeded" and job.kind == "bonus"
    assert len(mturk_emulator.state.bonuses) == 2
    again = sdk.pay_bonuses(slug, items[:2], reason="Thanks for your care")
    assert again.finished
    assert len(mturk_emulator.state.bonuses) == 2

    rows = list(sdk.bonuses.ledger(slug, page_size=1))
    assert all(isinstance(row, Bonus) for row in rows)
    assert sorted((r.worker_id, r.amount, r.state) for r in rows) == [
        (WORKERS[0], Decimal("0.50"), "sent"),
        (WORKERS[1], Decimal("1.25"), "sent"),
    ]
    assert [r.worker_id for r in sdk.bonus_ledger(slug, state="failed")] == []
    with pytest.raises(TypeError):
        sdk.bonuses.plan(slug)
