"""The SDK's message calls against a live service and the MTurk emulator: a plan that
sends nothing, a send, a repeat that reaches nobody twice, and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator
from crowdgate_client import (
    Client,
    ConflictError,
    Job,
    Message,
    MessagePlan,
    MessageRecipient,
    ValidationError,
)


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env}


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


WORKERS = ["A1SDKMSG00001", "A1SDKMSG00002", "A1SDKMSG00003"]


@pytest.fixture
def slug(make_study: Any, mturk_emulator: MTurkEmulator) -> str:
    study, page = make_study(
        platform="mturk", mode="sandbox", conditions=[{"name": "a", "target": 10}]
    )
    for worker in WORKERS:
        started = page.post(f"/studies/{study['slug']}/participants/{worker}/start")
        assert started.status_code == 200, started.text
    done = page.post(f"/studies/{study['slug']}/participants/{WORKERS[0]}/complete")
    assert done.status_code == 200, done.text
    mturk_emulator.seed_workers(WORKERS)
    return str(study["slug"])


def sent_to(mturk_emulator: MTurkEmulator) -> list[str]:
    return sorted(m.worker_id for m in mturk_emulator.state.messages)


def test_plan_send_repeat_and_ledger(sdk: Client, slug: str, mturk_emulator: MTurkEmulator) -> None:
    plan = sdk.messages.plan(slug, "Thanks", "Your bonus is on its way.", status="started")
    assert isinstance(plan, MessagePlan)
    assert plan.count == 2 and plan.recipients == tuple(WORKERS[1:])
    assert plan.dry_run and plan.message_id is None and plan.refused == ()
    assert sdk.plan_message(slug, "Thanks", "Hi", condition="a").count == 3
    assert sdk.plan_message(slug, "Thanks", "Hi", status=["started", "completed"]).count == 3
    assert mturk_emulator.state.messages == []

    job = sdk.messages.send(slug, "Thanks", "Your bonus is on its way.", worker_ids=WORKERS[:2])
    assert isinstance(job, Job) and job.state == "succeeded" and job.kind == "message"
    assert job.counts["sent"] == 2 and job.done == 2 and job.failed == 0
    assert sent_to(mturk_emulator) == WORKERS[:2]

    again = sdk.send_message(slug, "Thanks", "Your bonus is on its way.", condition="a")
    assert again.finished and again.counts["sent"] == 1
    assert sent_to(mturk_emulator) == WORKERS
    repeat = sdk.messages.plan(slug, "Thanks", "Your bonus is on its way.", condition="a")
    assert (repeat.count, repeat.already_sent) == (0, 3)

    [message] = list(sdk.messages.list(slug))
    assert isinstance(message, Message)
    assert message.subject == "Thanks" and message.counts == {"sent": 3}
    assert message.id == repeat.message_id == job.result["message_id"]
    rows = list(sdk.messages.recipients(slug, message.id, page_size=2))
    assert all(isinstance(row, MessageRecipient) for row in rows)
    assert sorted((r.worker_id, r.state, r.outcome) for r in rows) == [
        (worker, "sent", "sent") for worker in WORKERS
    ]
    assert list(sdk.message_recipients(slug, message.id, outcome="unclear")) == []


def test_refusals_and_mistakes_raise_typed_errors(
    sdk: Client, slug: str, make_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    plan = sdk.plan_message(slug, "Hi", "Thanks", worker_ids=[WORKERS[0], "A1NOTHERE0001"])
    assert [(r.index, r.code) for r in plan.refused] == [(1, "not_a_participant")]
    with pytest.raises(ValidationError) as refused:
        sdk.send_message(slug, "Hi", "Thanks", worker_ids=[WORKERS[0], "A1NOTHERE0001"])
    assert refused.value.code == "message_recipients_refused"
    assert "worker_ids" in refused.value.fields
    with pytest.raises(ValidationError) as too_long:
        sdk.plan_message(slug, "x" * 201, "Thanks", status="started")
    assert "subject" in too_long.value.fields
    assert mturk_emulator.state.messages == []

    sdk.send_message(slug, "Hi", "Thanks", worker_ids=[WORKERS[0]], key="welcome")
    with pytest.raises(ConflictError) as conflict:
        sdk.plan_message(slug, "Hi", "Other words", worker_ids=[WORKERS[0]], key="welcome")
    assert conflict.value.code == "message_key_conflict"

    offline, _ = make_study(platform="none")
    with pytest.raises(ConflictError) as unsupported:
        sdk.plan_message(offline["slug"], "Hi", "Thanks", status="started")
    assert unsupported.value.code == "not_supported_by_platform"

    with pytest.raises(TypeError):
        sdk.plan_message(slug, "Hi", "Thanks")
    with pytest.raises(TypeError):
        sdk.plan_message(slug, "Hi", "Thanks", worker_ids=WORKERS, status="started")
    with pytest.raises(TypeError):
        sdk.plan_message(slug, "Hi", "Thanks", worker_ids=WORKERS[0])
