"""The Prolific adapter against the Prolific emulator over HTTP: every call it makes,
paging, retries (throttling always, 5xx only where a repeat is harmless), Prolific's
errors in crowdgate's words, and a token that never shows."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from crowdgate.errors import ValidationFailed
from crowdgate.platforms import (
    APPROVED,
    REJECTED,
    RETURNED,
    SUBMITTED,
    TIMED_OUT,
    PlatformError,
    PlatformRejected,
    PlatformSettings,
    PlatformUnavailable,
    get_platform,
)
from crowdgate.platforms.prolific import ProlificClient
from crowdgate.platforms.prolific_http import Secret
from crowdgate.testing import ProlificEmulator

LONG_FEEDBACK = (
    "Thank you for taking part. The answers we received do not match the task we set, so "
    "we cannot accept this submission."
)
PEOPLE = [f"{n:024x}" for n in range(1, 6)]


def connect(emulator: ProlificEmulator, **settings: Any) -> ProlificClient:
    options = {"token": Secret(emulator.token), "workspace_id": emulator.state.workspace_id}
    options.update(settings.pop("options", {}))
    config = PlatformSettings(
        endpoint_url=settings.pop("endpoint_url", emulator.api_url),
        max_attempts=settings.pop("max_attempts", 4),
        timeout=settings.pop("timeout", 10.0),
        options=options,
        **settings,
    )
    client = get_platform("prolific").connect("sandbox", config)
    assert isinstance(client, ProlificClient)
    return client


@pytest.fixture
def prolific(prolific_emulator: ProlificEmulator) -> Any:
    client = connect(prolific_emulator)
    yield client
    client.close()


def status_of(emulator: ProlificEmulator, submission_id: str) -> str:
    return emulator.state.submissions[submission_id].status  # type: ignore[no-any-return]


# --- submissions ----------------------------------------------------------------------


def test_submissions_in_crowdgates_words(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(
        places=7,
        participants=[f"{n:024x}" for n in range(10, 17)],
        statuses=[
            "AWAITING REVIEW",
            "APPROVED",
            "REJECTED",
            "RETURNED",
            "TIMED-OUT",
            "ACTIVE",
            "RESERVED",
        ],
        study_codes=["C1ABCD", "C1ABCD", "WRONG", None, None, None, None],
    )
    found = list(prolific.list_submissions([seeded.study_id]))
    # Places still under way are not submissions yet, as MTurk lists no unsubmitted work.
    assert [s.status for s in found] == [SUBMITTED, APPROVED, REJECTED, RETURNED, TIMED_OUT]
    first = found[0]
    assert first.assignment_id == seeded.submission_ids[0]
    assert first.worker_id == seeded.participant_ids[0]
    assert first.posting_id == seeded.study_id
    assert first.platform_status == "AWAITING REVIEW"
    assert first.answers == {"study_code": "C1ABCD"}
    assert first.accepted_at is not None and first.accepted_at.tzinfo is not None
    assert first.submitted_at is not None and first.submitted_at > first.accepted_at
    assert found[2].answers == {"study_code": "WRONG"}
    assert found[3].answers == {} and found[3].submitted_at is None


def test_every_page_is_followed(prolific, prolific_emulator) -> None:
    first = prolific_emulator.seed_study(places=250)
    second = prolific_emulator.seed_study(places=3)
    found = list(prolific.list_submissions([first.study_id, second.study_id]))
    assert [s.assignment_id for s in found] == first.submission_ids + second.submission_ids
    assert prolific_emulator.faults.calls["ListSubmissions"] == 3 + 1


def test_a_bad_study_id_is_refused_before_calling(prolific, prolific_emulator) -> None:
    with pytest.raises(ValidationFailed) as refused:
        prolific.list_submissions(["../users/me"])
    assert "posting_ids.0" in refused.value.fields
    assert prolific_emulator.faults.calls["ListSubmissions"] == 0


def test_approve_once_and_again(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(places=2)
    target = seeded.submission_ids[0]
    prolific.approve(target, "Thanks!")
    assert status_of(prolific_emulator, target) == "APPROVED"
    # Approving an approved submission is not an error, and pays nobody twice.
    prolific.approve(target)
    assert prolific_emulator.state.submissions[target].times_approved == 1
    assert status_of(prolific_emulator, seeded.submission_ids[1]) == "AWAITING REVIEW"


def test_approving_a_rejected_submission_says_prolifics_words(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(places=1, statuses="REJECTED")
    with pytest.raises(PlatformRejected) as refused:
        prolific.approve(seeded.submission_ids[0])
    assert "only submissions awaiting review can be approved" in refused.value.message
    assert refused.value.platform == "prolific"
    assert refused.value.platform_code == "140100"


def test_reject_needs_a_long_message(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    target = seeded.submission_ids[0]
    with pytest.raises(ValidationFailed) as refused:
        prolific.reject(target, "Wrong code.")
    assert "feedback" in refused.value.fields
    assert "100" in refused.value.message
    assert prolific_emulator.faults.calls["TransitionSubmission"] == 0

    prolific.reject(target, LONG_FEEDBACK)
    stored = prolific_emulator.state.submissions[target]
    assert stored.status == "REJECTED"
    assert stored.rejection_category == "OTHER"
    assert stored.rejection_message == LONG_FEEDBACK
    prolific.reject(target, LONG_FEEDBACK)  # again: already what was asked
    assert prolific_emulator.faults.calls["TransitionSubmission"] == 2


def test_an_unknown_submission_is_prolifics_404(prolific) -> None:
    missing = "f" * 24
    with pytest.raises(PlatformRejected) as refused:
        prolific.approve(missing)
    assert f"Submission {missing} not found." in refused.value.message
    assert refused.value.extra["http_status"] == 404


# --- money and studies ----------------------------------------------------------------


def test_balance_in_major_units(prolific_emulator) -> None:
    prolific_emulator.set_balance("1234.56")
    with_workspace = connect(prolific_emulator)
    without = connect(prolific_emulator, options={"workspace_id": ""})
    try:
        assert with_workspace.balance() == Decimal("1234.56")
        assert without.balance() == Decimal("1234.56")
    finally:
        with_workspace.close()
        without.close()
    assert prolific_emulator.faults.calls["GetBalance"] == 1
    assert prolific_emulator.faults.calls["GetMe"] == 1


def test_get_posting(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(
        places=4,
        total_places=10,
        reward="2.25",
        name="Memory",
        statuses=["ACTIVE", "AWAITING REVIEW", "APPROVED", "RETURNED"],
    )
    posting = prolific.get_posting(seeded.study_id)
    assert posting.id == seeded.study_id and posting.title == "Memory"
    assert posting.reward == Decimal("2.25")
    assert (posting.assignments, posting.available) == (10, 6)
    assert (posting.pending, posting.completed) == (1, 2)
    assert posting.status == "active"
    with pytest.raises(PlatformRejected) as refused:
        prolific.get_posting("e" * 24)
    assert f"Study {'e' * 24} not found." in refused.value.message


# --- participant groups as qualifications ---------------------------------------------


def test_participant_groups_stand_in_for_qualifications(prolific, prolific_emulator) -> None:
    assert prolific.find_qualification_type("deception") is None
    made = prolific.create_qualification_type("deception", "Saw a deception study")
    assert made.name == "deception" and made.description == "Saw a deception study"
    assert prolific.find_qualification_type("deception") == made
    assert prolific.find_qualification_type("deceptio") is None

    for person in PEOPLE[:3]:
        prolific.grant_qualification(made.id, person, 1, notify=True)
    prolific.grant_qualification(made.id, PEOPLE[0])  # a member again: nothing changes
    held = list(prolific.list_qualified(made.id))
    assert [g.worker_id for g in held] == PEOPLE[:3]
    assert all(g.value == 1 and g.granted_at is not None for g in held)

    prolific.revoke_qualification(made.id, PEOPLE[1], "tidied")
    prolific.revoke_qualification(made.id, PEOPLE[4])  # not a member: ignored
    assert [g.worker_id for g in prolific.list_qualified(made.id)] == [PEOPLE[0], PEOPLE[2]]
    group = prolific_emulator.state.groups[made.id]
    assert list(group.members) == [PEOPLE[0], PEOPLE[2]]
    assert group.workspace_id == prolific_emulator.state.workspace_id

    with pytest.raises(ValidationFailed) as refused:
        prolific.grant_qualification(made.id, "AWORKERONE1")
    assert "worker_id" in refused.value.fields


def test_group_members_are_paged(prolific, prolific_emulator) -> None:
    made = prolific.create_qualification_type("big", "")
    people = [f"{n:024x}" for n in range(100, 330)]
    for person in people:
        prolific.grant_qualification(made.id, person)
    before = prolific_emulator.faults.calls["ListGroupParticipants"]
    assert [g.worker_id for g in prolific.list_qualified(made.id)] == people
    assert prolific_emulator.faults.calls["ListGroupParticipants"] - before == 3


def test_a_group_needs_a_workspace(prolific_emulator) -> None:
    client = connect(prolific_emulator, options={"workspace_id": ""})
    try:
        with pytest.raises(PlatformError) as refused:
            client.create_qualification_type("g", "")
    finally:
        client.close()
    assert refused.value.code == "platform_workspace_missing"
    assert "CROWDGATE_PROLIFIC_WORKSPACE_ID" in refused.value.message
    assert prolific_emulator.faults.calls["CreateGroup"] == 0


def test_a_group_made_but_unanswered_is_found_not_made_twice(prolific, prolific_emulator) -> None:
    prolific_emulator.faults.fail_next("CreateGroup", "500")
    made = prolific.create_qualification_type("record", "")
    assert prolific_emulator.faults.calls["CreateGroup"] == 1
    assert [g.name for g in prolific_emulator.state.groups.values()] == ["record"]
    assert made.id in prolific_emulator.state.groups


# --- retries --------------------------------------------------------------------------


def test_throttling_is_retried_after_retry_after(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(places=2)
    prolific_emulator.faults.fail_next("ListSubmissions", "throttle")
    started = time.monotonic()
    found = list(prolific.list_submissions([seeded.study_id]))
    assert len(found) == 2
    assert prolific_emulator.faults.calls["ListSubmissions"] == 2
    assert time.monotonic() - started >= 0.9  # the emulator says Retry-After: 1


def test_throttling_is_retried_even_for_a_call_that_is_not_idempotent(
    prolific, prolific_emulator
) -> None:
    prolific_emulator.faults.fail_next("CreateGroup", "throttle")
    prolific.create_qualification_type("once", "")
    assert prolific_emulator.faults.calls["CreateGroup"] == 2
    assert [g.name for g in prolific_emulator.state.groups.values()] == ["once"]


def test_server_errors_are_retried_for_reads_and_transitions(prolific, prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    prolific_emulator.faults.fail_next("GetStudy", "error", times=2)
    assert prolific.get_posting(seeded.study_id).id == seeded.study_id
    assert prolific_emulator.faults.calls["GetStudy"] == 3

    # Taken, then the answer lost: the repeat is ignored by Prolific, paid once.
    prolific_emulator.faults.fail_next("TransitionSubmission", "drop")
    prolific.approve(seeded.submission_ids[0])
    assert prolific_emulator.faults.calls["TransitionSubmission"] == 2
    assert prolific_emulator.state.submissions[seeded.submission_ids[0]].times_approved == 1


def test_a_server_error_on_a_call_that_is_not_idempotent_is_not_repeated(
    prolific, prolific_emulator
) -> None:
    prolific_emulator.faults.fail_next("CreateGroup", "error")
    with pytest.raises(PlatformUnavailable) as failed:
        prolific.create_qualification_type("never", "")
    assert prolific_emulator.faults.calls["CreateGroup"] == 1
    assert failed.value.retryable
    assert "A server error occurred" in failed.value.message
    assert not prolific_emulator.state.groups


def test_server_errors_past_the_budget_are_unavailable(prolific_emulator) -> None:
    seeded = prolific_emulator.seed_study(places=1)
    client = connect(prolific_emulator, max_attempts=2)
    prolific_emulator.faults.fail_next("ListSubmissions", "error", times=5)
    try:
        with pytest.raises(PlatformUnavailable) as failed:
            list(client.list_submissions([seeded.study_id]))
    finally:
        client.close()
    assert prolific_emulator.faults.calls["ListSubmissions"] == 2
    assert failed.value.status == 503 and failed.value.platform_code == "140500"
    assert "A server error occurred. Please try again." in failed.value.message


def test_the_rate_limit_paces_every_request(prolific_emulator) -> None:
    client = connect(prolific_emulator, rate_limit=10.0)
    started = time.monotonic()
    try:
        for _ in range(6):
            client.balance()
    finally:
        client.close()
    assert time.monotonic() - started >= 0.45


# --- the token ------------------------------------------------------------------------


def test_the_token_never_shows(prolific_emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token = prolific_emulator.token
    wrong_token = "crowdgate-wrong-token-" + "9" * 20
    refused_client = connect(prolific_emulator, options={"token": wrong_token})
    with pytest.raises(PlatformError) as refused:
        refused_client.balance()
    assert refused.value.code == "platform_credentials_rejected"
    assert "Invalid token." in refused.value.message

    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    unreachable = connect(
        prolific_emulator, endpoint_url=f"http://127.0.0.1:{closed_port}", max_attempts=1
    )
    with pytest.raises(PlatformUnavailable) as unanswered:
        unreachable.balance()

    good = connect(prolific_emulator)
    with pytest.raises(PlatformRejected) as rejected:
        good.get_posting("e" * 24)
    settings_repr = repr(
        PlatformSettings(options={"token": Secret(token)}),
    )
    for secret, shown in (
        (wrong_token, [str(refused.value), repr(refused.value), repr(refused.value.extra)]),
        (token, [str(unanswered.value), repr(unanswered.value), repr(unanswered.value.extra)]),
        (token, [str(rejected.value), repr(rejected.value), repr(rejected.value.extra)]),
        (token, [repr(good), repr(good.http), repr(good.http.session.auth), settings_repr]),
        (wrong_token, [repr(refused_client), repr(refused_client.http)]),
    ):
        for text in shown:
            assert secret not in text, text
    for client in (refused_client, unreachable, good):
        client.close()
    assert caplog.records  # urllib3 logged the calls, without the token
    assert token not in caplog.text and wrong_token not in caplog.text


def test_connecting_needs_a_token_and_a_mode(prolific_emulator) -> None:
    with pytest.raises(PlatformError) as missing:
        connect(prolific_emulator, options={"token": ""})
    assert missing.value.code == "platform_credentials_missing"
    assert "CROWDGATE_PROLIFIC_TOKEN" in missing.value.message
    settings = PlatformSettings(
        endpoint_url=prolific_emulator.api_url, options={"token": prolific_emulator.token}
    )
    with pytest.raises(ValidationFailed) as refused:
        get_platform("prolific").connect("production", settings)
    assert "mode" in refused.value.fields
    # Prolific has no sandbox: both modes reach the one configured API.
    for mode in ("sandbox", "live"):
        client = get_platform("prolific").connect(mode, settings)
        try:
            assert client.balance() == prolific_emulator.state.balance / 100
        finally:
            client.close()


# --- shapes the emulator does not send ------------------------------------------------


class _Bare(BaseHTTPRequestHandler):
    """Answers as Prolific's older endpoints do: lists with only ``results`` and
    ``meta`` (no ``_links``), and errors as ``{"message", "detail"}``."""

    items = [{"participant_id": f"{n:024x}", "datetime_created": None} for n in range(300)]
    seen: list[tuple[str, str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.seen.append((parts.path + "?" + parts.query, self.headers["Authorization"]))
        if parts.path.endswith("/participants/"):
            query = dict(parse_qsl(parts.query))
            offset, limit = int(query["offset"]), int(query["limit"])
            body: Any = {
                "results": self.items[offset : offset + limit],
                "meta": {"count": len(self.items)},
            }
            status = 200
        else:
            body = {"message": "Not allowed.", "detail": {"study": ["This study is archived."]}}
            status = 400
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def bare_server() -> Any:
    _Bare.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_pages_without_links_go_by_offset_until_the_count(bare_server: str) -> None:
    settings = PlatformSettings(endpoint_url=bare_server, options={"token": "bare-token"})
    client = get_platform("prolific").connect("live", settings)
    try:
        found = [g.worker_id for g in client.list_qualified("a" * 24)]
        with pytest.raises(PlatformRejected) as refused:
            client.get_posting("b" * 24)
    finally:
        client.close()
    assert found == [item["participant_id"] for item in _Bare.items]
    paths = [path for path, _ in _Bare.seen]
    assert paths[:3] == [
        f"/api/v1/participant-groups/{'a' * 24}/participants/?limit=100&offset={n}"
        for n in (0, 100, 200)
    ]
    assert len(paths) == 4  # three full pages hold meta.count: no fourth asked for
    assert {auth for _, auth in _Bare.seen} == {"Token bare-token"}
    assert "Not allowed.; study: This study is archived." in refused.value.message
    assert refused.value.platform_code == "HTTP 400"
