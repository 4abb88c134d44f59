"""The Prolific emulator over HTTP, with plain ``requests``: shapes, errors, pages, money,
faults, hooks, persistence and its command."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from crowdgate.testing import ProlificEmulator

from tests.prolific_fixtures import PROLIFIC_TEST_TOKEN

AUTH = {"Authorization": f"Token {PROLIFIC_TEST_TOKEN}"}
HEX24 = re.compile(r"^[0-9a-f]{24}$")
REJECTION = "Your answers did not match the study's instructions: " + "x" * 60
assert len(REJECTION) >= 100


def get(emulator: ProlificEmulator, path: str, **params: Any) -> requests.Response:
    return requests.get(emulator.api_url + path, headers=AUTH, params=params, timeout=10)


def post(emulator: ProlificEmulator, path: str, body: Any = None) -> requests.Response:
    return requests.post(emulator.api_url + path, headers=AUTH, json=body, timeout=10)


def delete(emulator: ProlificEmulator, path: str, body: Any = None) -> requests.Response:
    return requests.delete(emulator.api_url + path, headers=AUTH, json=body, timeout=10)


def assert_error(response: requests.Response, status: int, mentions: str = "") -> Any:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"status", "error_code", "title", "detail", "additional_information"}
    assert error["status"] == status
    assert isinstance(error["error_code"], int)
    assert mentions in json.dumps(error["detail"])
    return error["detail"]


# -- auth, account, study ---------------------------------------------------------------------


def test_missing_or_wrong_token_is_refused(prolific_emulator: ProlificEmulator) -> None:
    url = prolific_emulator.api_url + "users/me/"
    assert_error(requests.get(url, timeout=10), 401, "not provided")
    wrong = {"Authorization": "Token nope"}
    assert_error(requests.get(url, headers=wrong, timeout=10), 401, "Invalid token")
    bearer = {"Authorization": f"Bearer {PROLIFIC_TEST_TOKEN}"}
    assert_error(requests.get(url, headers=bearer, timeout=10), 401)
    assert prolific_emulator.faults.calls["GetMe"] == 0


def test_me_and_workspace_balance_in_minor_units(prolific_emulator: ProlificEmulator) -> None:
    me = get(prolific_emulator, "users/me/").json()
    assert HEX24.match(me["id"])
    assert me["currency_code"] == "GBP"
    assert me["balance"] == me["available_balance"] == 1_000_000
    prolific_emulator.set_balance("12.34")
    balance = get(prolific_emulator, f"workspaces/{prolific_emulator.workspace_id}/balance/")
    assert balance.status_code == 200
    assert balance.json()["total_balance"] == balance.json()["available_balance"] == 1234
    assert_error(get(prolific_emulator, f"workspaces/{'0' * 24}/balance/"), 404)


def test_study_shape_and_paths_without_trailing_slash(
    prolific_emulator: ProlificEmulator,
) -> None:
    seeded = prolific_emulator.seed_study(places=2, reward="2.25", completion_code="CODE42")
    study = get(prolific_emulator, f"studies/{seeded.study_id}").json()
    assert study["id"] == seeded.study_id
    assert study["reward"] == 225
    assert study["currency_code"] == "GBP"
    assert study["total_available_places"] == 2
    assert study["completion_codes"] == [
        {
            "code": "CODE42",
            "code_type": "COMPLETED",
            "actor": "participant",
            "actions": [{"action": "MANUALLY_REVIEW"}],
        }
    ]
    assert "{{%PROLIFIC_PID%}}" in study["external_study_url"]
    assert study["filters"] == []
    assert_error(get(prolific_emulator, f"studies/{'a' * 24}/"), 404, "a" * 24)
    assert_error(get(prolific_emulator, "no-such-thing/"), 404)
    assert_error(
        requests.put(prolific_emulator.api_url + "users/me/", headers=AUTH, timeout=10), 405
    )


def test_ids_are_deterministic_from_the_seed() -> None:
    made = []
    for _ in range(2):
        with ProlificEmulator(seed=7) as emulator:
            seeded = emulator.seed_study(places=3)
            made.append((emulator.workspace_id, seeded))
    assert made[0] == made[1]
    assert all(HEX24.match(i) for i in made[0][1].submission_ids + made[0][1].participant_ids)
    with ProlificEmulator(seed=8) as other:
        assert other.seed_study(places=3).study_id != made[0][1].study_id


# -- submissions --------------------------------------------------------------------------------


def test_submission_list_item_and_detail_shapes(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(
        places=2, statuses=["AWAITING REVIEW", "ACTIVE"], study_codes=["PASTED", None]
    )
    items = get(prolific_emulator, f"studies/{seeded.study_id}/submissions/").json()["results"]
    done, active = items
    assert done["id"] == seeded.submission_ids[0]
    assert done["participant_id"] == seeded.participant_ids[0]
    assert done["status"] == "AWAITING REVIEW"
    assert done["study_code"] == "PASTED"
    assert done["is_complete"] is True
    assert done["time_taken"] == 300
    assert done["reward"] == 150
    assert done["bonus_payments"] == []
    assert done["started_at"].endswith("Z") and done["completed_at"].endswith("Z")
    assert active["status"] == "ACTIVE"
    assert active["completed_at"] is None and active["is_complete"] is False
    assert active["study_code"] is None

    detail = get(prolific_emulator, f"submissions/{seeded.submission_ids[0]}/").json()
    assert detail["participant"] == seeded.participant_ids[0]
    assert detail["study_id"] == seeded.study_id
    assert detail["entered_code"] == "PASTED"
    assert detail["return_requested"] is None
    assert "participant_id" not in detail
    assert_error(get(prolific_emulator, f"submissions/{'b' * 24}/"), 404)


def test_pages_follow_next_links_by_limit_and_by_page(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=45)
    url: str | None = prolific_emulator.api_url + f"studies/{seeded.study_id}/submissions/?limit=20"
    seen: list[str] = []
    pages = 0
    while url:
        page = requests.get(url, headers=AUTH, timeout=10).json()
        assert page["meta"]["count"] == 45
        seen += [item["id"] for item in page["results"]]
        url = page["_links"]["next"]["href"]
        pages += 1
    assert pages == 3
    assert seen == seeded.submission_ids

    by_page = get(prolific_emulator, "submissions/", study=seeded.study_id, page_size=40).json()
    assert len(by_page["results"]) == 40
    second = requests.get(by_page["_links"]["next"]["href"], headers=AUTH, timeout=10).json()
    assert [i["id"] for i in by_page["results"] + second["results"]] == seeded.submission_ids
    assert second["_links"]["next"]["href"] is None
    assert second["_links"]["previous"]["href"] is not None
    assert_error(get(prolific_emulator, f"studies/{seeded.study_id}/submissions/", limit="x"), 400)


def test_transition_rules(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(
        places=3, statuses=["AWAITING REVIEW", "AWAITING REVIEW", "RETURNED"]
    )
    first, second, returned = seeded.submission_ids
    path = f"submissions/{first}/transition/"

    approved = post(prolific_emulator, path, {"action": "APPROVE"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "APPROVED"
    # Repeating the same transition is ignored: nothing is paid twice.
    assert post(prolific_emulator, path, {"action": "APPROVE"}).status_code == 200
    assert prolific_emulator.state.submissions[first].times_approved == 1
    assert prolific_emulator.state.balance == 1_000_000 - 150
    assert_error(
        post(
            prolific_emulator,
            path,
            {"action": "REJECT", "message": REJECTION, "rejection_category": "LOW_EFFORT"},
        ),
        400,
        "APPROVED",
    )

    reject = f"submissions/{second}/transition/"
    short = {"action": "REJECT", "message": "too short", "rejection_category": "LOW_EFFORT"}
    assert_error(post(prolific_emulator, reject, short), 400, "100 characters")
    no_category = {"action": "REJECT", "message": REJECTION}
    assert_error(post(prolific_emulator, reject, no_category), 400, "rejection_category")
    bad_category = {**no_category, "rejection_category": "RUDE"}
    assert_error(post(prolific_emulator, reject, bad_category), 400, "TOO_QUICKLY")
    assert_error(post(prolific_emulator, reject, {"action": "DANCE"}), 400, "action")
    assert_error(post(prolific_emulator, reject, ["APPROVE"]), 400, "JSON object")
    assert prolific_emulator.state.submissions[second].status == "AWAITING REVIEW"
    rejected = post(prolific_emulator, reject, {**no_category, "rejection_category": "NO_CODE"})
    assert rejected.json()["status"] == "REJECTED"
    assert prolific_emulator.state.submissions[second].rejection_message == REJECTION

    assert_error(
        post(prolific_emulator, f"submissions/{returned}/transition/", {"action": "APPROVE"}),
        400,
        "RETURNED",
    )
    assert_error(
        post(prolific_emulator, f"submissions/{'c' * 24}/transition/", {"action": "APPROVE"}),
        404,
    )


def test_bulk_approve_by_submissions_or_participants(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=4)
    ids = seeded.submission_ids
    answer = post(prolific_emulator, "submissions/bulk-approve/", {"submission_ids": ids[:2]})
    assert answer.status_code == 202
    by_participant = {"study_id": seeded.study_id, "participant_ids": seeded.participant_ids[1:3]}
    assert post(prolific_emulator, "submissions/bulk-approve/", by_participant).status_code == 202
    statuses = [prolific_emulator.state.submissions[i].status for i in ids]
    assert statuses == ["APPROVED", "APPROVED", "APPROVED", "AWAITING REVIEW"]
    assert prolific_emulator.state.submissions[ids[1]].times_approved == 1
    stranger = {"study_id": seeded.study_id, "participant_ids": ["d" * 24]}
    assert_error(post(prolific_emulator, "submissions/bulk-approve/", stranger), 400, "d" * 24)
    assert_error(post(prolific_emulator, "submissions/bulk-approve/", {}), 400, "submission_ids")


# -- bonuses ------------------------------------------------------------------------------------


def _bonus(emulator: ProlificEmulator, study_id: str, csv: str) -> requests.Response:
    return post(emulator, "submissions/bonus-payments/", {"study_id": study_id, "csv_bonuses": csv})


def test_bonus_setup_pays_nothing_and_refuses_strangers(
    prolific_emulator: ProlificEmulator,
) -> None:
    seeded = prolific_emulator.seed_study(places=2)
    stranger = "e" * 24
    refused = _bonus(
        prolific_emulator, seeded.study_id, f"{seeded.participant_ids[0]},1.00\n{stranger},2.00\n"
    )
    assert stranger in json.dumps(assert_error(refused, 400))
    assert_error(_bonus(prolific_emulator, seeded.study_id, "nonsense"), 400, "Line 1")
    assert_error(
        _bonus(prolific_emulator, seeded.study_id, f"{seeded.participant_ids[0]},1.005"), 400
    )
    assert not prolific_emulator.state.bulk_bonuses

    # One line by participant id, one by submission id; amounts in major units.
    created = _bonus(
        prolific_emulator,
        seeded.study_id,
        f"{seeded.participant_ids[0]},8.50\n{seeded.submission_ids[1]},0.50\n",
    )
    assert created.status_code == 201
    body = created.json()
    assert HEX24.match(body["id"])
    assert body["study"] == seeded.study_id
    assert body["amount"] == 900
    assert body["fees"] == pytest.approx(283.34 + 16.67)
    assert body["vat"] == 0
    assert body["total_amount"] == pytest.approx(900 + 283.34 + 16.67)
    assert prolific_emulator.state.payments == []
    assert prolific_emulator.state.balance == 1_000_000


def test_paying_a_bulk_bonus_twice_pays_twice(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=2)
    csv = "".join(f"{p},1.00\n" for p in seeded.participant_ids)
    bulk_id = _bonus(prolific_emulator, seeded.study_id, csv).json()["id"]
    for _ in range(2):
        paid = post(prolific_emulator, f"bulk-bonus-payments/{bulk_id}/pay/")
        assert paid.status_code == 202
    state = prolific_emulator.state
    assert state.bulk_bonuses[bulk_id].times_paid == 2
    assert len(state.payments) == 4
    assert {(p.participant_id, p.amount) for p in state.payments} == {
        (participant, 100) for participant in seeded.participant_ids
    }
    items = get(prolific_emulator, f"studies/{seeded.study_id}/submissions/").json()["results"]
    assert [item["bonus_payments"] for item in items] == [[100, 100], [100, 100]]
    assert state.balance == Decimal(1_000_000) - 2 * (200 + 2 * Decimal("33.34"))
    assert_error(post(prolific_emulator, f"bulk-bonus-payments/{'f' * 24}/pay/"), 404)


def test_pay_refused_when_the_balance_is_short(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    bulk_id = _bonus(prolific_emulator, seeded.study_id, f"{seeded.participant_ids[0]},5.00").json()
    prolific_emulator.set_balance("6.00")
    assert_error(post(prolific_emulator, f"bulk-bonus-payments/{bulk_id['id']}/pay/"), 400, "low")
    assert prolific_emulator.state.payments == []
    assert prolific_emulator.state.balance == 600


# -- messages -----------------------------------------------------------------------------------


def test_messages_to_known_participants_only(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=2)
    outsider = "1" * 24
    one = {"recipient_id": seeded.participant_ids[0], "study_id": seeded.study_id, "body": "Hi"}
    assert post(prolific_emulator, "messages/", one).status_code == 201
    assert_error(post(prolific_emulator, "messages/", {**one, "recipient_id": outsider}), 400)
    assert_error(post(prolific_emulator, "messages/", {**one, "body": ""}), 400, "body")
    bulk = {"ids": seeded.participant_ids, "study_id": seeded.study_id, "body": "Thanks"}
    assert post(prolific_emulator, "messages/bulk/", bulk).status_code == 201
    assert_error(
        post(prolific_emulator, "messages/bulk/", {**bulk, "ids": [outsider]}), 400, outsider
    )
    prolific_emulator.seed_participants([outsider])
    assert post(prolific_emulator, "messages/bulk/", {**bulk, "ids": [outsider]}).ok
    sent = [(m.recipient_id, m.body) for m in prolific_emulator.state.messages]
    assert sent == [
        (seeded.participant_ids[0], "Hi"),
        (seeded.participant_ids[0], "Thanks"),
        (seeded.participant_ids[1], "Thanks"),
        (outsider, "Thanks"),
    ]


# -- participant groups -------------------------------------------------------------------------


def test_participant_groups(prolific_emulator: ProlificEmulator) -> None:
    workspace = prolific_emulator.workspace_id
    people = [f"{n:024x}" for n in range(1, 6)]
    created = post(
        prolific_emulator,
        "participant-groups/",
        {"name": "excluded", "workspace_id": workspace, "participant_ids": people[:2]},
    )
    assert created.status_code == 201
    group = created.json()
    assert group["participant_count"] == 2 and group["workspace_id"] == workspace
    path = f"participant-groups/{group['id']}/participants/"

    for _ in range(2):  # adding twice changes nothing the second time
        added = post(prolific_emulator, path, {"participant_ids": people[1:4]})
        assert added.status_code == 200
        assert [m["participant_id"] for m in added.json()["results"]] == people[:4]
    for _ in range(2):
        removed = delete(prolific_emulator, path, {"participant_ids": [people[0], people[4]]})
        assert removed.status_code == 200
        assert [m["participant_id"] for m in removed.json()["results"]] == people[1:4]
    members = get(prolific_emulator, path, limit=2).json()
    assert members["meta"]["count"] == 3 and len(members["results"]) == 2
    assert_error(post(prolific_emulator, path, {"participant_ids": ["nope"]}), 400, "nope")

    patched = requests.patch(
        prolific_emulator.api_url + f"participant-groups/{group['id']}/",
        headers=AUTH,
        json={"name": "renamed", "participant_ids": [people[4]]},
        timeout=10,
    )
    assert patched.json()["name"] == "renamed" and patched.json()["participant_count"] == 1

    post(prolific_emulator, "participant-groups/", {"name": "other", "workspace_id": workspace})
    listed = get(prolific_emulator, "participant-groups/", workspace_id=workspace, limit=1).json()
    assert listed["meta"]["count"] == 2 and listed["_links"]["next"]["href"]
    assert get(prolific_emulator, f"participant-groups/{group['id']}/").json()["name"] == "renamed"
    assert delete(prolific_emulator, f"participant-groups/{group['id']}/").status_code == 204
    assert_error(get(prolific_emulator, f"participant-groups/{group['id']}/"), 404)
    assert_error(post(prolific_emulator, "participant-groups/", {"workspace_id": workspace}), 400)
    assert_error(
        post(prolific_emulator, "participant-groups/", {"name": "x", "workspace_id": "9" * 24}),
        400,
        "workspace_id",
    )


# -- hooks --------------------------------------------------------------------------------------


class _Receiver:
    """A tiny HTTP server that records the hooks it gets, failing the first ``fail`` ones."""

    def __init__(self, fail: int = 0) -> None:
        self.received: list[tuple[Message, bytes]] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.headers, body))
                status = 503 if receiver.fail > 0 else 200
                receiver.fail -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/prolific"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    yield server
    server.close()


def _subscribe(emulator: ProlificEmulator, target: str) -> str:
    workspace = emulator.workspace_id
    secret = post(emulator, "hooks/secrets/", {"workspace_id": workspace})
    assert secret.status_code == 201
    assert secret.json()["workspace_id"] == workspace
    subscription = post(
        emulator,
        "hooks/subscriptions/",
        {"workspace_id": workspace, "event_type": "submission.status.change", "target_url": target},
    )
    assert subscription.status_code == 201
    assert HEX24.match(subscription.json()["id"])
    return str(secret.json()["value"])


def _verify(secret: str, headers: Message, body: bytes) -> bool:
    timestamp = headers["X-Prolific-Request-Timestamp"]
    # The documented scheme, re-serialising the parsed body as Prolific's example does.
    redumped = json.dumps(json.loads(body))
    expected = base64.b64encode(
        hmac.new(secret.encode(), str.encode(timestamp + redumped), hashlib.sha256).digest()
    )
    return hmac.compare_digest(expected, headers["X-Prolific-Request-Signature"].encode())


def test_hooks_on_status_changes_are_signed(
    prolific_emulator: ProlificEmulator, receiver: _Receiver
) -> None:
    seeded = prolific_emulator.seed_study(
        places=3, statuses=["ACTIVE", "AWAITING REVIEW", "ACTIVE"]
    )
    secret = _subscribe(prolific_emulator, receiver.url)
    prolific_emulator.submit(seeded.submission_ids[0], study_code="C1ABCD")
    post(
        prolific_emulator,
        f"submissions/{seeded.submission_ids[1]}/transition/",
        {"action": "APPROVE"},
    )
    post(
        prolific_emulator,
        "submissions/bulk-approve/",
        {"submission_ids": seeded.submission_ids[:1]},
    )
    assert prolific_emulator.wait_for_hooks()
    payloads = [json.loads(body) for _, body in receiver.received]
    assert payloads == [
        {
            "resource_id": seeded.submission_ids[0],
            "event_type": "submission.status.change",
            "participant_id": seeded.participant_ids[0],
            "status": "AWAITING REVIEW",
        },
        {
            "resource_id": seeded.submission_ids[1],
            "event_type": "submission.status.change",
            "participant_id": seeded.participant_ids[1],
            "status": "APPROVED",
        },
        {
            "resource_id": seeded.submission_ids[0],
            "event_type": "submission.status.change",
            "participant_id": seeded.participant_ids[0],
            "status": "APPROVED",
        },
    ]
    for headers, body in receiver.received:
        assert _verify(secret, headers, body)
        assert abs(int(headers["X-Prolific-Request-Timestamp"]) - time.time()) < 60
        assert not _verify("another secret", headers, body)
    assert len({headers["X-Event-ID"] for headers, _ in receiver.received}) == 3


def test_a_failed_hook_is_retried_with_the_same_event_id(
    prolific_emulator: ProlificEmulator,
) -> None:
    flaky = _Receiver(fail=2)
    try:
        secret = _subscribe(prolific_emulator, flaky.url)
        seeded = prolific_emulator.seed_study(places=1)
        (delivery,) = prolific_emulator.send_hook(seeded.submission_ids[0], "RETURNED")
        assert prolific_emulator.wait_for_hooks()
    finally:
        flaky.close()
    assert delivery.delivered and delivery.attempts == 3
    assert delivery.statuses == [503, 503, 200]
    assert len({h["X-Event-ID"] for h, _ in flaky.received}) == 1
    assert all(_verify(secret, h, body) for h, body in flaky.received)
    assert json.loads(flaky.received[0][1])["status"] == "RETURNED"


def test_subscriptions_refuse_unknown_events(prolific_emulator: ProlificEmulator) -> None:
    body = {
        "workspace_id": prolific_emulator.workspace_id,
        "event_type": "submission.exploded",
        "target_url": "https://example.org/hook",
    }
    assert_error(post(prolific_emulator, "hooks/subscriptions/", body), 400, "event_type")
    ftp = {**body, "event_type": "submission.status.change", "target_url": "ftp://x"}
    assert_error(post(prolific_emulator, "hooks/subscriptions/", ftp), 400, "target_url")


# -- faults -------------------------------------------------------------------------------------


def test_throttle_and_error_do_nothing(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    path = f"submissions/{seeded.submission_ids[0]}/transition/"
    prolific_emulator.faults.fail_next("TransitionSubmission", "throttle")
    prolific_emulator.faults.fail_next("TransitionSubmission", "error")
    throttled = post(prolific_emulator, path, {"action": "APPROVE"})
    assert_error(throttled, 429)
    assert throttled.headers["Retry-After"] == "1"
    assert_error(post(prolific_emulator, path, {"action": "APPROVE"}), 500)
    assert prolific_emulator.state.submissions[seeded.submission_ids[0]].status == (
        "AWAITING REVIEW"
    )
    assert post(prolific_emulator, path, {"action": "APPROVE"}).status_code == 200
    faults = prolific_emulator.faults
    assert faults.calls["TransitionSubmission"] == 3
    assert faults.committed["TransitionSubmission"] == 1
    assert faults.injected["throttle"] == faults.injected["error"] == 1


def test_pay_commit_then_fail_pays_although_the_answer_is_lost(
    prolific_emulator: ProlificEmulator,
) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    bulk_id = _bonus(prolific_emulator, seeded.study_id, f"{seeded.participant_ids[0]},2.00")
    path = f"bulk-bonus-payments/{bulk_id.json()['id']}/pay/"
    prolific_emulator.faults.fail_next("PayBonus", "500")
    assert_error(post(prolific_emulator, path), 500)
    assert len(prolific_emulator.state.payments) == 1
    prolific_emulator.faults.fail_next("PayBonus", "drop")
    with pytest.raises(requests.ConnectionError):
        post(prolific_emulator, path)
    # Both calls took effect: a client that retries blindly pays twice.
    assert len(prolific_emulator.state.payments) == 2
    submission = get(prolific_emulator, f"submissions/{seeded.submission_ids[0]}/").json()
    assert submission["bonus_payments"] == [200, 200]
    assert prolific_emulator.faults.committed["PayBonus"] == 2

    prolific_emulator.faults.configure(commit_then_fail={"PayBonus": "500"})
    assert_error(post(prolific_emulator, path), 500)
    assert len(prolific_emulator.state.payments) == 3


def test_random_faults_and_latency(prolific_emulator: ProlificEmulator) -> None:
    prolific_emulator.faults.configure(throttle_rate=1.0)
    assert_error(get(prolific_emulator, "users/me/"), 429)
    prolific_emulator.faults.configure(throttle_rate=0.0, error_rate=1.0)
    assert_error(get(prolific_emulator, "users/me/"), 500)
    prolific_emulator.faults.configure(error_rate=0.0, latency_ms=150)
    started = time.monotonic()
    assert get(prolific_emulator, "users/me/").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_control_api_seeds_and_sets_faults(prolific_emulator: ProlificEmulator) -> None:
    root = prolific_emulator.url
    seeded = requests.post(f"{root}/_emulator/seed/", json={"places": 3}, timeout=10).json()
    (study,) = seeded["studies"]
    assert len(study["submission_ids"]) == 3
    assert get(prolific_emulator, f"studies/{study['study_id']}/").status_code == 200
    requests.post(
        f"{root}/_emulator/fail-next",
        json={"operation": "GetStudy", "kind": "throttle"},
        timeout=10,
    )
    assert_error(get(prolific_emulator, f"studies/{study['study_id']}/"), 429)
    bad = requests.post(f"{root}/_emulator/seed/", json={"places": -1}, timeout=10)
    assert bad.status_code == 400 and "places" in bad.json()["error"]
    assert requests.get(f"{root}/_emulator/state/", timeout=10).json()["submissions"] == 3


# -- persistence and the command ----------------------------------------------------------------


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "prolific.json"
    with ProlificEmulator(state_path=path, token="t") as emulator:
        seeded = emulator.seed_study(places=2)
        headers = {"Authorization": "Token t"}
        requests.post(
            f"{emulator.api_url}submissions/{seeded.submission_ids[0]}/transition/",
            json={"action": "APPROVE"},
            headers=headers,
            timeout=10,
        )
        bulk = requests.post(
            f"{emulator.api_url}submissions/bonus-payments/",
            json={"study_id": seeded.study_id, "csv_bonuses": f"{seeded.participant_ids[1]},1.10"},
            headers=headers,
            timeout=10,
        ).json()
        requests.post(
            f"{emulator.api_url}bulk-bonus-payments/{bulk['id']}/pay/", headers=headers, timeout=10
        )
        balance = emulator.state.balance
    with ProlificEmulator(state_path=path, token="t") as again:
        state = again.state
        assert state.submissions[seeded.submission_ids[0]].status == "APPROVED"
        assert state.submissions[seeded.submission_ids[1]].bonus_payments == [110]
        assert state.bulk_bonuses[bulk["id"]].times_paid == 1
        assert len(state.payments) == 1
        assert state.balance == balance
        # New ids carry on from where they were, never reusing one.
        before = set(state.submissions) | set(state.studies) | set(state.bulk_bonuses)
        fresh = again.seed_study(places=1)
        assert not {fresh.study_id, *fresh.submission_ids} & before


def test_the_command_serves_and_keeps_its_state(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    command = [
        sys.executable,
        "-c",
        "from crowdgate.cli import main; main()",
        "prolific-emulator",
        "--port",
        "0",
        "--token",
        "cli-token",
        "--balance",
        "50.00",
        "--state",
        str(state_file),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"(http://\S+/api/v1/)", first)
        assert found, first
        api = found.group(1)
        assert "cli-token" in process.stdout.readline()
        me = requests.get(
            f"{api}users/me/", headers={"Authorization": "Token cli-token"}, timeout=10
        )
        assert me.json()["balance"] == 5000
        assert requests.get(f"{api}users/me/", timeout=10).status_code == 401
        root = api.removesuffix("/api/v1/")
        requests.post(f"{root}/_emulator/seed/", json={"places": 2}, timeout=10)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    saved = json.loads(state_file.read_text())
    assert len(saved["submissions"]) == 2


def test_the_command_refuses_bad_options() -> None:
    from click.testing import CliRunner
    from crowdgate.cli import main

    result = CliRunner().invoke(main, ["prolific-emulator", "--balance", "ten", "--port", "0"])
    assert result.exit_code != 0 and "10000.00" in result.output
    result = CliRunner().invoke(main, ["prolific-emulator", "--token", " ", "--port", "0"])
    assert result.exit_code != 0 and "token" in result.output
    assert "Traceback" not in result.output


def test_field_errors_as_text_or_as_objects() -> None:
    body = {"action": "REJECT", "message": "short", "rejection_category": "LOW_EFFORT"}
    for structured in (False, True):
        with ProlificEmulator(token=PROLIFIC_TEST_TOKEN, structured_errors=structured) as emulator:
            seeded = emulator.seed_study(places=1)
            answer = post(emulator, f"submissions/{seeded.submission_ids[0]}/transition/", body)
            detail = assert_error(answer, 400, "100 characters")
            if structured:
                assert list(detail) == ["message"]
            else:
                assert isinstance(detail, str) and detail.startswith("message: ")


def test_seeding_helpers_and_reset(
    prolific_emulator: ProlificEmulator, receiver: _Receiver
) -> None:
    seeded = prolific_emulator.seed_study(places=2, statuses="ACTIVE")
    with pytest.raises(ValueError, match="places"):
        prolific_emulator.seed_study(places=2, participants=["a" * 24])
    with pytest.raises(ValueError, match="status"):
        prolific_emulator.seed_study(places=1, statuses="FINISHED")
    with pytest.raises(ValueError, match="hex"):
        prolific_emulator.seed_participants(["P1"])
    prolific_emulator.submit(seeded.submission_ids[0])
    detail = get(prolific_emulator, f"submissions/{seeded.submission_ids[0]}/").json()
    assert detail["status"] == "AWAITING REVIEW" and detail["entered_code"] == "C1ABCD"
    assert detail["completed_at"] is not None
    with pytest.raises(ValueError, match="AWAITING REVIEW"):
        prolific_emulator.submit(seeded.submission_ids[0])
    prolific_emulator.set_status(seeded.submission_ids[1], "RETURNED")
    assert (
        get(prolific_emulator, f"submissions/{seeded.submission_ids[1]}/").json()["status"]
        == "RETURNED"
    )

    # A hook straight to a URL, signed with the secret given.
    (delivery,) = prolific_emulator.send_hook(
        seeded.submission_ids[1], target_url=receiver.url, secret="s3cret"
    )
    assert prolific_emulator.wait_for_hooks() and delivery.delivered
    headers, body = receiver.received[0]
    assert _verify("s3cret", headers, body)
    assert json.loads(body)["status"] == "RETURNED"

    prolific_emulator.faults.fail_next("GetMe", "error")
    prolific_emulator.reset(balance="5.00")
    assert prolific_emulator.state.submissions == {}
    assert get(prolific_emulator, "users/me/").json()["balance"] == 500
    assert_error(get(prolific_emulator, f"studies/{seeded.study_id}/"), 404)


def test_concurrent_approvals_pay_once(prolific_emulator: ProlificEmulator) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    path = f"submissions/{seeded.submission_ids[0]}/transition/"
    answers: list[int] = []

    def approve() -> None:
        answers.append(post(prolific_emulator, path, {"action": "APPROVE"}).status_code)

    threads = [threading.Thread(target=approve) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 20
    assert prolific_emulator.state.submissions[seeded.submission_ids[0]].times_approved == 1
    assert prolific_emulator.state.balance == 1_000_000 - 150


def test_the_command_reports_a_broken_state_file(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from crowdgate.cli import main

    broken = tmp_path / "state.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(main, ["prolific-emulator", "--state", str(broken), "--port", "0"])
    assert result.exit_code == 1
    assert "Cannot load the state" in result.output and "Traceback" not in result.output


def test_a_bulk_bonus_can_be_paid_minutes_later() -> None:
    with ProlificEmulator(token=PROLIFIC_TEST_TOKEN, pay_delay=0.3) as emulator:
        seeded = emulator.seed_study(places=1)
        bulk = _bonus(emulator, seeded.study_id, f"{seeded.participant_ids[0]},3.00").json()
        assert post(emulator, f"bulk-bonus-payments/{bulk['id']}/pay/").status_code == 202
        path = f"submissions/{seeded.submission_ids[0]}/"
        assert get(emulator, path).json()["bonus_payments"] == []
        deadline = time.monotonic() + 5
        while not get(emulator, path).json()["bonus_payments"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert get(emulator, path).json()["bonus_payments"] == [300]
        assert emulator.payments_by_participant(seeded.study_id) == {seeded.participant_ids[0]: 1}
        assert emulator.state.balance == 1_000_000 - 400
