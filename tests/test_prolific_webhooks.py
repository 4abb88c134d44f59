"""Prolific's submission hooks, received by a running app on both databases: the
emulator delivers them to the app's URL as Prolific would, and hand-signed deliveries
probe the signature, replay and duplicate checks."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests
from crowdgate import create_app
from crowdgate.api.platform_access import close_clients
from crowdgate.clock import ManualClock
from crowdgate.models import Participant, ParticipantEvent, Study, WebhookEvent
from crowdgate.testing import ProlificEmulator
from crowdgate.testing.prolific_hooks import sign
from sqlalchemy import func, select

from tests.conftest import LiveServer
from tests.http import ApiClient, assert_error
from tests.prolific_fixtures import prolific_settings

PEOPLE = [f"{n:024x}" for n in range(0xB1, 0xB6)]
HOOK_PATH = "/webhooks/prolific"
SECRET_SETTING = "CROWDGATE_PROLIFIC_WEBHOOK_SECRET"


@pytest.fixture
def app_config(
    app_config: dict[str, Any], prolific_env: ProlificEmulator, hook_secret: str
) -> dict[str, Any]:
    return {
        **app_config,
        **prolific_settings(prolific_env, max_attempts=2),
        SECRET_SETTING: hook_secret,
    }


def prolific_call(emu: ProlificEmulator, method: str, path: str, **body: Any) -> Any:
    response = requests.request(
        method,
        f"{emu.api_url}{path}",
        json=body,
        headers={"Authorization": f"Token {emu.token}"},
        timeout=10,
    )
    assert response.status_code < 300, response.text
    return response.json()


def subscribe(emu: ProlificEmulator, server: LiveServer) -> None:
    prolific_call(
        emu,
        "POST",
        "hooks/subscriptions/",
        workspace_id=emu.workspace_id,
        event_type="submission.status.change",
        target_url=f"{server.url}/api/v1{HOOK_PATH}",
    )


def post_hook(
    client: ApiClient,
    payload: Any,
    secret: str,
    *,
    at: float,
    event_id: str | None = None,
    body: bytes | None = None,
    signature: str | None = None,
    leave_out: str | None = None,
) -> requests.Response:
    """POST a delivery signed as the emulator signs one (or with ``signature``)."""
    raw = body if body is not None else json.dumps(payload).encode("utf-8")
    timestamp = str(int(at))
    headers = {
        "Content-Type": "application/json",
        "X-Event-ID": event_id or str(uuid.uuid4()),
        "X-Prolific-Request-Timestamp": timestamp,
        "X-Prolific-Request-Signature": signature or sign(secret, timestamp, raw),
    }
    if leave_out:
        del headers[leave_out]
    return client.post(HOOK_PATH, data=raw, headers=headers)


def submission_hook(submission_id: str, participant_id: str, status: str) -> dict[str, Any]:
    return {
        "resource_id": submission_id,
        "event_type": "submission.status.change",
        "participant_id": participant_id,
        "status": status,
    }


def record_of(db: Any, slug: str, worker: str) -> Participant:
    with db.read() as session:
        found = session.scalars(
            select(Participant)
            .join(Study, Study.id == Participant.study_id)
            .where(Study.slug == slug, Participant.worker_id == worker)
        ).one()
        session.expunge(found)
        return found


def event_count(db: Any, participant_id: int) -> int:
    with db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ParticipantEvent)
                .where(ParticipantEvent.participant_id == participant_id)
            )
            or 0
        )


def started(
    make_study: Any, emu: ProlificEmulator, *, with_session: bool = True
) -> tuple[str, Any, str]:
    """A Prolific study in crowdgate and the emulator, with PEOPLE[0] started and
    finished in crowdgate; returns (slug, seeded, submission id)."""
    seeded = emu.seed_study(places=2, participants=PEOPLE[:2], statuses="ACTIVE")
    study, page = make_study(
        platform="prolific",
        mode="sandbox",
        code_answer_field="study_code",
        hit_ids=[seeded.study_id],
    )
    submission_id = seeded.submission_ids[0]
    params = {"STUDY_ID": seeded.study_id}
    if with_session:
        params["SESSION_ID"] = submission_id
    path = f"/studies/{study['slug']}/participants/{PEOPLE[0]}"
    assert page.post(f"{path}/start", json=params).status_code == 200
    assert page.post(f"{path}/complete").status_code == 200
    return study["slug"], seeded, submission_id


def test_emulator_hooks_update_the_record_at_once(
    make_study: Any, prolific_emulator: ProlificEmulator, server: LiveServer, db: Any
) -> None:
    slug, _, submission_id = started(make_study, prolific_emulator)
    subscribe(prolific_emulator, server)

    prolific_emulator.submit(submission_id)
    assert prolific_emulator.wait_for_hooks()
    record = record_of(db, slug, PEOPLE[0])
    assert (record.status, record.platform_status) == ("submitted", "submitted")

    # A transition through Prolific's own API: its hook reaches crowdgate with no sync.
    prolific_call(
        prolific_emulator, "POST", f"submissions/{submission_id}/transition/", action="APPROVE"
    )
    assert prolific_emulator.wait_for_hooks()
    deliveries = prolific_emulator.hooks.deliveries
    assert [d.statuses for d in deliveries] == [[200], [200]]
    record = record_of(db, slug, PEOPLE[0])
    assert (record.status, record.platform_status) == ("approved", "approved")
    with db.read() as session:
        handled = set(session.scalars(select(WebhookEvent.event_id)))
    assert handled == {d.event_id for d in deliveries}
    # The record was matched by SESSION_ID: Prolific was not asked about the submission.
    assert prolific_emulator.faults.calls.get("GetSubmission", 0) == 0


def test_a_participant_without_session_id_is_found_through_prolific(
    make_study: Any,
    prolific_emulator: ProlificEmulator,
    anonymous: ApiClient,
    hook_secret: str,
    clock: ManualClock,
    db: Any,
) -> None:
    slug, _, submission_id = started(make_study, prolific_emulator, with_session=False)
    prolific_emulator.submit(submission_id)

    response = post_hook(
        anonymous,
        submission_hook(submission_id, PEOPLE[0], "AWAITING REVIEW"),
        hook_secret,
        at=clock().timestamp(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["matched"] is True
    record = record_of(db, slug, PEOPLE[0])
    assert (record.status, record.assignment_id) == ("submitted", submission_id)
    assert record.submitted_code == "C1ABCD"
    assert prolific_emulator.faults.calls["GetSubmission"] == 1


def test_a_repeated_event_id_changes_nothing(
    make_study: Any,
    prolific_emulator: ProlificEmulator,
    anonymous: ApiClient,
    hook_secret: str,
    clock: ManualClock,
    db: Any,
) -> None:
    slug, _, submission_id = started(make_study, prolific_emulator)
    at = clock().timestamp()
    approved = submission_hook(submission_id, PEOPLE[0], "APPROVED")
    first = post_hook(anonymous, approved, hook_secret, at=at, event_id="event-1")
    assert first.json() == {
        "event_type": "submission.status.change",
        "duplicate": False,
        "matched": True,
        "result": "updated",
    }
    rejected = submission_hook(submission_id, PEOPLE[0], "REJECTED")
    later = post_hook(anonymous, rejected, hook_secret, at=at + 1, event_id="event-2")
    assert later.json()["result"] == "updated"
    participant_id = record_of(db, slug, PEOPLE[0]).id
    events = event_count(db, participant_id)

    # Prolific's retry of the first event, freshly signed: answered, not applied again.
    again = post_hook(anonymous, approved, hook_secret, at=at + 2, event_id="event-1")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert record_of(db, slug, PEOPLE[0]).status == "rejected"
    assert event_count(db, participant_id) == events


def test_an_unknown_submission_is_answered_unmatched(
    make_study: Any,
    prolific_emulator: ProlificEmulator,
    anonymous: ApiClient,
    hook_secret: str,
    clock: ManualClock,
) -> None:
    started(make_study, prolific_emulator)
    response = post_hook(
        anonymous,
        submission_hook("0123456789abcdef01234567", PEOPLE[3], "APPROVED"),
        hook_secret,
        at=clock().timestamp(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["matched"] is False


def test_other_events_are_acknowledged_and_ignored(
    anonymous: ApiClient, hook_secret: str, clock: ManualClock
) -> None:
    payload = {"resource_id": "0123456789abcdef01234567", "event_type": "study.progress.change"}
    response = post_hook(anonymous, payload, hook_secret, at=clock().timestamp())
    assert response.status_code == 200, response.text
    assert response.json()["ignored"] is True


def test_a_forged_signature_is_refused(
    make_study: Any,
    prolific_emulator: ProlificEmulator,
    anonymous: ApiClient,
    clock: ManualClock,
    db: Any,
) -> None:
    slug, _, submission_id = started(make_study, prolific_emulator)
    payload = submission_hook(submission_id, PEOPLE[0], "REJECTED")
    response = post_hook(anonymous, payload, "not-the-secret", at=clock().timestamp())
    assert_error(response, 401, "invalid_webhook_signature", "X-Prolific-Request-Signature")
    assert record_of(db, slug, PEOPLE[0]).status == "completed"


def test_an_old_timestamp_is_refused_as_a_replay(
    anonymous: ApiClient, hook_secret: str, clock: ManualClock
) -> None:
    payload = submission_hook("0123456789abcdef01234567", PEOPLE[0], "APPROVED")
    response = post_hook(anonymous, payload, hook_secret, at=clock().timestamp() - 301)
    assert_error(response, 401, "invalid_webhook_signature", "X-Prolific-Request-Timestamp")


@pytest.mark.parametrize("header", ["X-Prolific-Request-Signature", "X-Prolific-Request-Timestamp"])
def test_a_missing_header_is_named(
    anonymous: ApiClient, hook_secret: str, clock: ManualClock, header: str
) -> None:
    payload = submission_hook("0123456789abcdef01234567", PEOPLE[0], "APPROVED")
    response = post_hook(anonymous, payload, hook_secret, at=clock().timestamp(), leave_out=header)
    assert_error(response, 401, "invalid_webhook_signature", header)


def test_a_signed_body_that_is_not_json_is_refused(
    anonymous: ApiClient, hook_secret: str, clock: ManualClock
) -> None:
    at = clock().timestamp()
    response = post_hook(anonymous, None, hook_secret, at=at, body=b"status=APPROVED")
    assert_error(response, 422, "validation_error", "body")
    unsigned = post_hook(anonymous, None, hook_secret, at=at, body=b"{", signature="AAAA")
    assert_error(unsigned, 401, "invalid_webhook_signature", "X-Prolific-Request-Signature")


def test_without_a_secret_every_hook_is_refused(
    app_config: dict[str, Any], hook_secret: str, clock: ManualClock
) -> None:
    application = create_app({**app_config, SECRET_SETTING: None})
    live = LiveServer(application)
    try:
        with ApiClient(live.url) as client:
            payload = submission_hook("0123456789abcdef01234567", PEOPLE[0], "APPROVED")
            response = post_hook(client, payload, hook_secret, at=clock().timestamp())
        body = assert_error(response, 409, "webhook_secret_not_set")
        assert hook_secret not in response.text
        assert SECRET_SETTING in body["message"]
    finally:
        live.stop()
        close_clients(application)
        application.extensions["crowdgate"].db.dispose()


def test_a_signature_over_the_reserialised_body_is_accepted(
    anonymous: ApiClient, hook_secret: str, clock: ManualClock
) -> None:
    # Prolific's documented verifier signs json.dumps(body), not the bytes on the wire.
    payload = {"resource_id": "0123456789abcdef01234567", "event_type": "study.progress.change"}
    compact = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    at = clock().timestamp()
    signature = sign(hook_secret, str(int(at)), json.dumps(payload).encode("utf-8"))
    response = post_hook(anonymous, None, hook_secret, at=at, body=compact, signature=signature)
    assert response.status_code == 200, response.text
    assert response.json()["ignored"] is True


def test_prolific_unreachable_leaves_the_event_to_be_delivered_again(
    make_study: Any,
    prolific_emulator: ProlificEmulator,
    anonymous: ApiClient,
    hook_secret: str,
    clock: ManualClock,
    db: Any,
) -> None:
    slug, _, submission_id = started(make_study, prolific_emulator, with_session=False)
    prolific_emulator.submit(submission_id)
    prolific_emulator.faults.fail_next("GetSubmission", "error", times=2)
    payload = submission_hook(submission_id, PEOPLE[0], "AWAITING REVIEW")
    at = clock().timestamp()

    failed = post_hook(anonymous, payload, hook_secret, at=at, event_id="event-1")
    assert_error(failed, 503, "platform_unavailable")
    assert record_of(db, slug, PEOPLE[0]).status == "completed"

    # Prolific delivers the event again; it was not marked handled, so it is applied now.
    again = post_hook(anonymous, payload, hook_secret, at=at + 1, event_id="event-1")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is False
    assert record_of(db, slug, PEOPLE[0]).status == "submitted"
