"""Prolific's hooks and the survey rate limit: a burst of signed deliveries is never
refused, while unsigned and badly signed ones count like any anonymous call."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from crowdgate import create_app
from crowdgate.api.platform_access import close_clients
from crowdgate.clock import ManualClock
from crowdgate.testing import ProlificEmulator
from crowdgate.testing.prolific_hooks import sign

from tests.conftest import LiveServer
from tests.http import ApiClient, assert_error

LIMIT = 3
HOOK_PATH = "/webhooks/prolific"
SECRET_SETTING = "CROWDGATE_PROLIFIC_WEBHOOK_SECRET"
EVENT = {"event_type": "study.status.change", "resource_id": "0123456789abcdef01234567"}


@pytest.fixture
def app_config(app_config: dict[str, Any], hook_secret: str) -> dict[str, Any]:
    # Per hour: the window opens at the first call, so no test crosses into a new one.
    return {
        **app_config,
        "CROWDGATE_SURVEY_RATE_LIMIT": f"{LIMIT} per hour",
        SECRET_SETTING: hook_secret,
    }


def deliver(client: ApiClient, secret: str | None, *, at: float) -> requests.Response:
    """POST one event, signed with ``secret`` (None: no signature header at all)."""
    raw = json.dumps(EVENT).encode("utf-8")
    timestamp = str(int(at))
    headers = {
        "Content-Type": "application/json",
        "X-Event-ID": str(uuid.uuid4()),
        "X-Prolific-Request-Timestamp": timestamp,
    }
    if secret is not None:
        headers["X-Prolific-Request-Signature"] = sign(secret, timestamp, raw)
    return client.post(HOOK_PATH, data=raw, headers=headers)


def test_a_burst_of_signed_hooks_is_never_limited(
    prolific_emulator: ProlificEmulator,
    server: LiveServer,
    anonymous: ApiClient,
    hook_secret: str,
    clock: ManualClock,
) -> None:
    target = f"{server.url}/api/v1{HOOK_PATH}"
    for _ in range(4 * LIMIT):
        prolific_emulator.send_hook(EVENT["resource_id"], payload=EVENT, target_url=target)
    assert prolific_emulator.wait_for_hooks()
    deliveries = prolific_emulator.hooks.deliveries
    assert len(deliveries) == 4 * LIMIT
    # Each delivered at the first attempt: none was refused and sent again.
    assert [d.statuses for d in deliveries] == [[200]] * (4 * LIMIT)

    # They did not use up the caller's allowance: the first unsigned calls are still
    # answered (and refused for their signature), and only then limited.
    at = clock().timestamp()
    for _ in range(LIMIT):
        assert_error(deliver(anonymous, None, at=at), 401, "invalid_webhook_signature")
    limited = deliver(anonymous, None, at=at)
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"].isdigit()

    # Past the limit, Prolific's own deliveries still get through.
    assert deliver(anonymous, hook_secret, at=at).status_code == 200
    prolific_emulator.send_hook(EVENT["resource_id"], payload=EVENT, target_url=target)
    assert prolific_emulator.wait_for_hooks()
    assert prolific_emulator.hooks.deliveries[-1].statuses == [200]


def test_badly_signed_and_stale_hooks_count(
    anonymous: ApiClient, hook_secret: str, clock: ManualClock
) -> None:
    at = clock().timestamp()
    wrong = deliver(anonymous, "not-the-secret", at=at)
    assert_error(wrong, 401, "invalid_webhook_signature", "X-Prolific-Request-Signature")
    stale = deliver(anonymous, hook_secret, at=at - 301)
    assert_error(stale, 401, "invalid_webhook_signature", "X-Prolific-Request-Timestamp")
    assert_error(deliver(anonymous, None, at=at), 401, "invalid_webhook_signature")
    assert_error(deliver(anonymous, "not-the-secret", at=at), 429, "rate_limited")
    assert_error(deliver(anonymous, hook_secret, at=at - 301), 429, "rate_limited")
    assert deliver(anonymous, hook_secret, at=at).status_code == 200


def test_a_signature_exempts_only_hook_deliveries(
    make_study: Any, anonymous: ApiClient, hook_secret: str, clock: ManualClock
) -> None:
    study, page = make_study()
    timestamp = str(int(clock().timestamp()))
    # A survey call carrying a valid signature over its (empty) body counts all the same.
    signed = {
        "X-Prolific-Request-Timestamp": timestamp,
        "X-Prolific-Request-Signature": sign(hook_secret, timestamp, b""),
    }
    path = f"/studies/{study['slug']}/eligibility"
    for n in range(LIMIT):
        response = page.get(path, params={"worker_id": f"w-{n}"}, headers=signed)
        assert response.status_code == 200, response.text
    late = page.get(path, params={"worker_id": "w-late"}, headers=signed)
    assert_error(late, 429, "rate_limited")
    assert deliver(anonymous, hook_secret, at=clock().timestamp()).status_code == 200


def test_without_a_secret_hooks_count(
    app_config: dict[str, Any], hook_secret: str, clock: ManualClock
) -> None:
    application = create_app({**app_config, SECRET_SETTING: None})
    live = LiveServer(application)
    try:
        with ApiClient(live.url) as client:
            at = clock().timestamp()
            # Nothing can be verified, so even a correctly signed delivery counts.
            for _ in range(LIMIT):
                assert_error(deliver(client, hook_secret, at=at), 409, "webhook_secret_not_set")
            assert_error(deliver(client, hook_secret, at=at), 429, "rate_limited")
    finally:
        live.stop()
        close_clients(application)
        application.extensions["crowdgate"].db.dispose()
