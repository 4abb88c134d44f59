"""The SDK's bonus calls against a live service and the MTurk emulator: a plan that pays
nothing, a payment, a repeat that pays nothing more, and the ledger."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
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


def test_a_csv_file_is_uploaded_and_its_lines_named(
    sdk: Client, make_study: Any, mturk_emulator: MTurkEmulator, tmp_path: Path
) -> None:
    study, page = make_study(platform="mturk", mode="sandbox")
    slug = study["slug"]
    hit = mturk_emulator.seed_hit(assignments=2, workers=WORKERS[:2])
    for worker, assignment in zip(WORKERS[:2], hit.assignment_ids, strict=True):
        started = page.post(
            f"/studies/{slug}/participants/{worker}/start", json={"assignment_id": assignment}
        )
        assert started.status_code == 200, started.text
    sheet = tmp_path / "bonuses.csv"
    sheet.write_text(
        f"WorkerId,amount,reason\n{WORKERS[0]},0.50,\n{WORKERS[1]},1.25,Top score\n"
        "A1NOTHERE00001,0.10,\n"
    )

    plan = sdk.plan_bonuses(slug, csv=sheet, reason="Thanks")
    assert (plan.count, plan.total) == (2, Decimal("1.75"))
    assert [(r.line, r.index, r.code) for r in plan.refused] == [(4, 2, "not_a_participant")]
    assert [(i.line, i.reason) for i in plan.items] == [(2, "Thanks"), (3, "Top score")]
    with pytest.raises(ValidationError) as refused:
        sdk.pay_bonuses(slug, csv=str(sheet), reason="Thanks")
    assert refused.value.fields["file"] == ["line 4: not_a_participant"]
    assert mturk_emulator.state.bonuses == {}

    good = io.BytesIO("\n".join(sheet.read_text().splitlines()[:3]).encode())
    job = sdk.bonuses.pay(slug, csv=good, reason="Thanks")
    assert (job.state, job.done) == ("succeeded", 2)
    assert sorted(b.worker_id for b in mturk_emulator.state.bonuses.values()) == WORKERS[:2]

    bad = tmp_path / "bad.csv"
    bad.write_text("worker_id,amount\n\n,0.50\n")
    with pytest.raises(ValidationError) as invalid:
        sdk.plan_bonuses(slug, csv=bad)
    assert invalid.value.code == "invalid_upload"
    assert invalid.value.fields["file"] == ["line 3: worker_id: Missing data for required field."]
    with pytest.raises(TypeError):
        sdk.plan_bonuses(slug, [{"worker_id": WORKERS[0], "amount": "1"}], csv=sheet)
