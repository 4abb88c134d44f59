"""Handled hook events are forgotten after CROWDGATE_WEBHOOK_EVENT_RETENTION_DAYS: as hooks
arrive, at most hourly per process and a bounded batch at a time, timed by the app's clock."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from crowdgate.clock import ManualClock
from crowdgate.config import InvalidSetting, from_environment
from crowdgate.db import Database
from crowdgate.domain import submission_hooks
from crowdgate.models import WebhookEvent
from crowdgate.testing.prolific_hooks import sign
from sqlalchemy import select

from tests.http import ApiClient

SECRET = "a workspace's hook secret"
HOOK_PATH = "/webhooks/prolific"
RETENTION_SETTING = "CROWDGATE_WEBHOOK_EVENT_RETENTION_DAYS"
EVENT = {"event_type": "study.status.change", "resource_id": "0123456789abcdef01234567"}


@pytest.fixture
def retention_days() -> int | None:
    return None


@pytest.fixture
def app_config(app_config: dict[str, Any], retention_days: int | None) -> dict[str, Any]:
    config = {**app_config, "CROWDGATE_PROLIFIC_WEBHOOK_SECRET": SECRET}
    if retention_days is not None:
        config[RETENTION_SETTING] = retention_days
    return config


def deliver(client: ApiClient, clock: ManualClock, event_id: str) -> dict[str, Any]:
    """Deliver one event, signed at the app's present time; its answer."""
    raw = json.dumps(EVENT).encode("utf-8")
    timestamp = str(int(clock().timestamp()))
    response: requests.Response = client.post(
        HOOK_PATH,
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Event-ID": event_id,
            "X-Prolific-Request-Timestamp": timestamp,
            "X-Prolific-Request-Signature": sign(SECRET, timestamp, raw),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def kept(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(WebhookEvent.event_id)))


def test_old_events_go_at_most_hourly(anonymous: ApiClient, clock: ManualClock, db: Database):
    deliver(anonymous, clock, "a")
    clock.advance(days=29, hours=23, minutes=30)
    deliver(anonymous, clock, "b")  # purges, but "a" is not 30 days old yet
    assert kept(db) == {"a", "b"}

    clock.advance(minutes=40)  # "a" is now past the retention...
    deliver(anonymous, clock, "c")
    # ... but this process purged less than an hour ago: a repeat of "a" is still known.
    assert deliver(anonymous, clock, "a")["duplicate"] is True
    assert kept(db) == {"a", "b", "c"}

    clock.advance(minutes=30)
    deliver(anonymous, clock, "d")
    assert kept(db) == {"b", "c", "d"}
    # Forgotten, a very late repeat of "a" is handled as new (and recorded again).
    assert deliver(anonymous, clock, "a")["duplicate"] is False
    assert kept(db) == {"a", "b", "c", "d"}


@pytest.mark.parametrize("retention_days", [2])
def test_the_retention_is_a_setting(anonymous: ApiClient, clock: ManualClock, db: Database):
    deliver(anonymous, clock, "a")
    clock.advance(days=1, hours=23)
    deliver(anonymous, clock, "b")
    assert kept(db) == {"a", "b"}
    clock.advance(hours=2)
    deliver(anonymous, clock, "c")
    assert kept(db) == {"b", "c"}


def test_a_backlog_goes_a_batch_per_delivery(
    anonymous: ApiClient, clock: ManualClock, db: Database
):
    old = clock() - timedelta(days=31)
    backlog = submission_hooks.PURGE_BATCH + 3
    with db.write() as session:
        session.add_all(
            WebhookEvent(
                event_id=f"old-{n}",
                event_type="study.status.change",
                resource_id="r",
                received_at=old,
            )
            for n in range(backlog)
        )
    deliver(anonymous, clock, "first")
    assert len(kept(db)) == backlog + 1 - submission_hooks.PURGE_BATCH
    # The batch was full, so the next delivery goes on at once, however soon it comes.
    deliver(anonymous, clock, "second")
    assert kept(db) == {"first", "second"}
    # Then the hourly pace again: an old row now waits for the next hour.
    with db.write() as session:
        assert submission_hooks.claim(session, "late", "study.status.change", "r", now=old)
    deliver(anonymous, clock, "third")
    assert "late" in kept(db)
    clock.advance(hours=1)
    deliver(anonymous, clock, "fourth")
    assert kept(db) == {"first", "second", "third", "fourth"}


@pytest.mark.parametrize(("value", "problem"), [("0", "days >= 1"), ("a month", "invalid literal")])
def test_a_bad_retention_is_named(value: str, problem: str) -> None:
    with pytest.raises(InvalidSetting) as refused:
        from_environment({RETENTION_SETTING: value})
    assert RETENTION_SETTING in str(refused.value) and problem in str(refused.value)
    assert from_environment({RETENTION_SETTING: "7"}) == {RETENTION_SETTING: 7}
