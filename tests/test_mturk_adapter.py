"""The MTurk adapter through a real boto3 client, over a socket, against the emulator."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from crowdgate.api.platform_access import client_for
from crowdgate.errors import ValidationFailed
from crowdgate.platforms import (
    MTURK_SYSTEM_QUALIFICATIONS,
    MTurkClient,
    PlatformError,
    PlatformRejected,
    PlatformSettings,
    PlatformUnavailable,
    PostingRequest,
    Requirement,
    get_platform,
)
from crowdgate.platforms.mturk_xml import parse_answers
from crowdgate.testing import MTurkEmulator
from flask import Flask

pytestmark = pytest.mark.usefixtures("mturk_env")

NS = "{http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd}"


def connect(url: str, *, max_attempts: int = 5, timeout: float = 10.0) -> MTurkClient:
    """The adapter as crowdgate builds it: its own boto3 client, credentials from the chain."""
    client = get_platform("mturk").connect(
        "sandbox", PlatformSettings(endpoint_url=url, max_attempts=max_attempts, timeout=timeout)
    )
    assert isinstance(client, MTurkClient)
    return client


@pytest.fixture
def adapter(mturk_emulator: MTurkEmulator) -> MTurkClient:
    return connect(mturk_emulator.url)


def calls(emulator: MTurkEmulator) -> int:
    return sum(emulator.faults.calls.values())


def posting(**changes: Any) -> PostingRequest:
    fields: dict[str, Any] = {
        "title": "A ten-minute survey",
        "description": "Questions about your day",
        "reward": Decimal("1.50"),
        "assignments": 9,
        "lifetime_seconds": 3 * 24 * 3600,
        "assignment_duration_seconds": 3600,
        "auto_approval_delay_seconds": 3 * 24 * 3600,
        "external_url": "https://survey.example.org/jfe/form/SV_1?a=1&b=<2>",
    }
    fields.update(changes)
    return PostingRequest(**fields)


# --- building the client ---------------------------------------------------------------


def test_connect_uses_standard_retries_timeouts_and_mode_endpoints() -> None:
    mturk = get_platform("mturk")
    live = mturk.connect("live", PlatformSettings(max_attempts=7, timeout=12.5))
    assert isinstance(live, MTurkClient)
    meta = live.client.meta
    assert meta.endpoint_url == "https://mturk-requester.us-east-1.amazonaws.com"
    assert meta.region_name == "us-east-1"
    assert meta.config.retries == {"mode": "standard", "total_max_attempts": 7}
    assert meta.config.connect_timeout == 12.5
    assert meta.config.read_timeout == 12.5
    sandbox = mturk.connect("sandbox", PlatformSettings())
    assert isinstance(sandbox, MTurkClient)
    assert (
        sandbox.client.meta.endpoint_url
        == "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
    )
    with pytest.raises(ValidationFailed) as caught:
        mturk.connect("production", PlatformSettings())
    assert "mode" in caught.value.fields


def test_the_app_config_points_views_at_the_emulator(mturk_emulator: MTurkEmulator) -> None:
    app = Flask("host")
    app.config.update(
        CROWDGATE_MTURK_ENDPOINT_URL=mturk_emulator.url,
        CROWDGATE_MTURK_MAX_ATTEMPTS=3,
        CROWDGATE_MTURK_TIMEOUT=4.0,
    )
    client = client_for(app, "mturk", "live")
    assert client is client_for(app, "mturk", "live")
    assert client is not client_for(app, "mturk", "sandbox")
    assert isinstance(client, MTurkClient)
    assert client.client.meta.config.retries["total_max_attempts"] == 3
    mturk_emulator.set_balance("123.45")
    assert client.balance() == Decimal("123.45")


def test_a_client_handed_over_is_used_as_it_is(mturk: Any, mturk_emulator: MTurkEmulator) -> None:
    adapter = get_platform("mturk").connect("live", PlatformSettings(client=mturk))
    assert isinstance(adapter, MTurkClient) and adapter.client is mturk
    assert adapter.balance() == Decimal("10000.00")
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 1


def test_missing_credentials_say_where_to_set_them(
    mturk_emulator: MTurkEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # No instance metadata service to ask on this machine, and none wanted in tests.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    adapter = connect(mturk_emulator.url, max_attempts=1)
    with pytest.raises(PlatformError) as caught:
        adapter.balance()
    assert caught.value.code == "platform_credentials_missing"
    assert "AWS_ACCESS_KEY_ID" in caught.value.message
    assert calls(mturk_emulator) == 0


# --- fees ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reward", "assignments", "fee"),
    [
        ("0.50", 9, "0.90"),
        ("0.50", 10, "2.00"),
        ("0.01", 9, "0.09"),  # the $0.01 minimum, per assignment
        ("0.01", 10, "0.10"),
        ("0.03", 100, "1.00"),  # 0.012 each rounds to 0.01
        ("0.13", 1, "0.03"),  # 0.026 rounds half-up to 0.03
        ("0.12", 1, "0.02"),
        ("2.00", 1000, "800.00"),
    ],
)
def test_posting_fee(reward: str, assignments: int, fee: str) -> None:
    assert get_platform("mturk").posting_fee(Decimal(reward), assignments) == Decimal(fee)


def test_bonus_fee_and_refused_amounts() -> None:
    mturk = get_platform("mturk")
    assert mturk.bonus_fee(Decimal("5.00")) == Decimal("1.00")
    assert mturk.bonus_fee(Decimal("0.02")) == Decimal("0.01")
    with pytest.raises(ValidationFailed) as caught:
        mturk.posting_fee(Decimal("0.125"), 5)
    assert "reward" in caught.value.fields
    with pytest.raises(ValidationFailed):
        mturk.posting_fee(Decimal("1.00"), 0)


# --- listing ---------------------------------------------------------------------------


def test_1050_assignments_on_one_hit_are_all_listed_once(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    statuses = ["Submitted", "Approved", "Rejected"] * 350
    answers = [{"surveycode": f"CODE-{i:04d}", "comments": "fine"} for i in range(1050)]
    hit = mturk_emulator.seed_hit(assignments=1050, statuses=statuses, answers=answers)
    found = list(adapter.list_submissions([hit.hit_id]))
    assert len(found) == 1050
    assert [s.assignment_id for s in found] == hit.assignment_ids
    assert len({s.worker_id for s in found}) == len(set(hit.worker_ids))
    assert Counter(s.status for s in found) == {"submitted": 350, "approved": 350, "rejected": 350}
    assert {s.answers["surveycode"] for s in found} == {a["surveycode"] for a in answers}
    assert all(s.posting_id == hit.hit_id for s in found)
    # Pages of 100, every status asked for: psiTurk stopped after the first page.
    assert mturk_emulator.faults.calls["ListAssignmentsForHIT"] == 11


def test_submissions_of_several_hits_with_their_answers(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    first = mturk_emulator.seed_hit(assignments=3, answers={"surveycode": " A&B <x> "})
    second = mturk_emulator.seed_hit(assignments=2, statuses="Approved")
    found = list(adapter.list_submissions([first.hit_id, second.hit_id]))
    assert [s.posting_id for s in found] == [first.hit_id] * 3 + [second.hit_id] * 2
    # The code comes back exactly as typed, spaces and XML's special characters too.
    assert found[0].answers["surveycode"] == " A&B <x> "
    assert found[0].platform_status == "Submitted" and found[0].reviewed_at is None
    approved = found[3]
    assert approved.status == "approved"
    assert approved.reviewed_at is not None and approved.reviewed_at.tzinfo == UTC
    assert approved.submitted_at is not None and approved.accepted_at is not None


def test_answers_xml_parsing() -> None:
    xml = (
        '<?xml version="1.0" encoding="ASCII"?>'
        '<QuestionFormAnswers xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd">'
        "<Answer><QuestionIdentifier>surveycode</QuestionIdentifier>"
        "<FreeText>X&amp;Y</FreeText></Answer>"
        "<Answer><QuestionIdentifier>empty</QuestionIdentifier><FreeText/></Answer>"
        "<Answer><QuestionIdentifier>choice</QuestionIdentifier>"
        "<SelectionIdentifier>a</SelectionIdentifier></Answer>"
        "</QuestionFormAnswers>"
    )
    assert parse_answers(xml) == {"surveycode": "X&Y", "empty": ""}
    assert parse_answers("<QuestionFormAnswers><Answer>") == {}
    assert parse_answers(None) == {}


def test_a_forgotten_hit_keeps_mturks_code_and_message(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    with pytest.raises(PlatformRejected) as caught:
        list(adapter.list_submissions(["3NOSUCHHIT0000000000000000000X"]))
    error = caught.value
    assert error.status == 422
    assert error.platform_code == "AWS.MechanicalTurk.HITDoesNotExist"
    assert "3NOSUCHHIT0000000000000000000X does not exist" in error.message
    assert error.extra["platform_code"] == "AWS.MechanicalTurk.HITDoesNotExist"


# --- retries and failures --------------------------------------------------------------


def test_throttling_and_5xx_are_retried_until_success(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=150)
    mturk_emulator.faults.fail_next("ListAssignmentsForHIT", "throttle", times=2)
    mturk_emulator.faults.fail_next("GetAccountBalance", "error", times=2)
    assert len(list(adapter.list_submissions([hit.hit_id]))) == 150
    assert adapter.balance() == Decimal("10000.00")
    assert mturk_emulator.faults.calls["ListAssignmentsForHIT"] == 2 + 2
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 3


def test_throttling_that_outlasts_the_retries_is_unavailable(
    mturk_emulator: MTurkEmulator,
) -> None:
    adapter = connect(mturk_emulator.url, max_attempts=2)
    mturk_emulator.faults.fail_next("GetAccountBalance", "throttle", times=2)
    with pytest.raises(PlatformUnavailable) as caught:
        adapter.balance()
    assert caught.value.retryable
    assert caught.value.status == 503
    assert caught.value.platform_code == "ThrottlingException"
    assert "Rate exceeded" in caught.value.message
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 2


def test_a_service_fault_that_outlasts_the_retries_keeps_its_turk_code(
    mturk_emulator: MTurkEmulator,
) -> None:
    adapter = connect(mturk_emulator.url, max_attempts=2)
    mturk_emulator.faults.fail_next("GetAccountBalance", "error", times=2)
    with pytest.raises(PlatformUnavailable) as caught:
        adapter.balance()
    assert caught.value.platform_code == "AWS.ServiceUnavailable"
    assert "internal error" in caught.value.message
    assert caught.value.retryable


def test_no_server_is_unavailable_and_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = connect(f"http://127.0.0.1:{port}", max_attempts=1, timeout=2)
    with pytest.raises(PlatformUnavailable) as caught:
        adapter.balance()
    assert caught.value.retryable
    assert caught.value.platform_code == "EndpointConnectionError"


def test_a_slow_answer_times_out_as_unavailable(mturk_emulator: MTurkEmulator) -> None:
    adapter = connect(mturk_emulator.url, max_attempts=1, timeout=0.3)
    mturk_emulator.faults.configure(latency_ms=1000)
    with pytest.raises(PlatformUnavailable) as caught:
        adapter.balance()
    assert caught.value.platform_code == "ReadTimeoutError"
    assert caught.value.retryable


# --- review ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_commit_then_fail_on_approve_approves_once_and_raises_nothing(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator, kind: str
) -> None:
    hit = mturk_emulator.seed_hit(assignments=2)
    target = hit.assignment_ids[0]
    mturk_emulator.faults.fail_next("ApproveAssignment", kind)
    adapter.approve(target, "Thanks!")
    # crowdgate's own retry (a job run again after a crash) is just as harmless.
    adapter.approve(target, "Thanks!")
    assignment = mturk_emulator.state.assignments[target]
    assert assignment.status == "Approved"
    assert assignment.times_approved == 1
    assert assignment.feedback == "Thanks!"
    assert mturk_emulator.state.assignments[hit.assignment_ids[1]].status == "Submitted"


def test_commit_then_fail_on_reject_rejects_once(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=1)
    target = hit.assignment_ids[0]
    mturk_emulator.faults.fail_next("RejectAssignment", "500")
    adapter.reject(target, "The code does not match")
    adapter.reject(target, "The code does not match")
    assert mturk_emulator.state.assignments[target].status == "Rejected"
    assert mturk_emulator.faults.committed["RejectAssignment"] == 1
    # The retry met MTurk's "wrong state" answer and looked before calling it done.
    assert mturk_emulator.faults.calls["GetAssignment"] >= 1


def test_rejecting_an_approved_assignment_is_refused_with_mturks_code(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=1, statuses="Approved")
    with pytest.raises(PlatformRejected) as caught:
        adapter.reject(hit.assignment_ids[0], "no")
    assert caught.value.platform_code == "AWS.MechanicalTurk.InvalidAssignmentState"
    assert "Submitted" in caught.value.message
    assert mturk_emulator.state.assignments[hit.assignment_ids[0]].status == "Approved"


def test_approving_an_unknown_assignment_is_refused(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    with pytest.raises(PlatformRejected) as caught:
        adapter.approve("3NOSUCHASSIGNMENT000000000000X")
    assert caught.value.platform_code == "AWS.MechanicalTurk.AssignmentDoesNotExist"


# --- money -----------------------------------------------------------------------------


def test_a_bonus_is_paid_once_whatever_is_retried(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=1)
    worker, assignment = hit.worker_ids[0], hit.assignment_ids[0]
    mturk_emulator.faults.fail_next("SendBonus", "drop")
    adapter.send_bonus(worker, assignment, Decimal("1.5"), "Thanks", token="bonus-1")
    adapter.send_bonus(worker, assignment, Decimal("1.5"), "Thanks", token="bonus-1")
    assert len(mturk_emulator.state.bonuses) == 1
    assert mturk_emulator.state.balance == Decimal("10000.00") - Decimal("1.80")
    paid = list(adapter.list_bonuses(assignment_id=assignment))
    assert [(b.worker_id, b.amount, b.reason) for b in paid] == [
        (worker, Decimal("1.50"), "Thanks")
    ]
    assert list(adapter.list_bonuses(posting_id=hit.hit_id)) == paid
    assert paid[0].paid_at is not None


def test_bonuses_are_listed_across_pages(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=130)
    for index, (worker, assignment) in enumerate(
        zip(hit.worker_ids, hit.assignment_ids, strict=True)
    ):
        adapter.send_bonus(worker, assignment, Decimal("0.10"), "Thanks", token=f"t{index}")
    assert len(list(adapter.list_bonuses(posting_id=hit.hit_id))) == 130
    assert mturk_emulator.faults.calls["ListBonusPayments"] == 2


def test_insufficient_funds_is_refused_with_mturks_code(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=1)
    mturk_emulator.set_balance("1.00")
    with pytest.raises(PlatformRejected) as caught:
        adapter.send_bonus(
            hit.worker_ids[0], hit.assignment_ids[0], Decimal("5.00"), "Thanks", token="t"
        )
    assert caught.value.platform_code == "AWS.MechanicalTurk.InsufficientFunds"
    assert mturk_emulator.state.bonuses == {}


# --- checks before any call ------------------------------------------------------------


BAD_CALLS: dict[str, tuple[Any, str]] = {
    "lowercase assignment id": (lambda c: c.approve("3abc"), "assignment_id"),
    "assignment id too long": (lambda c: c.approve("A" * 65), "assignment_id"),
    "hit id with a space": (lambda c: list(c.list_submissions(["3AB CD"])), "posting_ids.0"),
    "worker id without A": (
        lambda c: c.send_bonus("B123", "3ABC", Decimal("1.00"), "x", token="t"),
        "worker_id",
    ),
    "fraction of a cent": (
        lambda c: c.send_bonus("A123", "3ABC", Decimal("1.005"), "x", token="t"),
        "amount",
    ),
    "negative amount": (
        lambda c: c.send_bonus("A123", "3ABC", Decimal("-1"), "x", token="t"),
        "amount",
    ),
    "not a number": (
        lambda c: c.send_bonus("A123", "3ABC", Decimal("NaN"), "x", token="t"),
        "amount",
    ),
    "bonus without assignment": (
        lambda c: c.send_bonus("A123", None, Decimal("1.00"), "x", token="t"),
        "assignment_id",
    ),
    "token too long": (
        lambda c: c.send_bonus("A123", "3ABC", Decimal("1.00"), "x", token="t" * 65),
        "token",
    ),
    "subject too long": (lambda c: c.notify(["A123"], "s" * 201, "body"), "subject"),
    "body too long": (lambda c: c.notify(["A123"], "subject", "b" * 4097), "body"),
    "bad worker in a list": (
        lambda c: c.notify(["A123", "a-456"], "subject", "body"),
        "worker_ids.1",
    ),
    "reject without feedback": (lambda c: c.reject("3ABC", "  "), "feedback"),
    "http survey url": (
        lambda c: c.create_posting(posting(external_url="http://survey.example.org")),
        "external_url",
    ),
    "reward with a fraction of a cent": (
        lambda c: c.create_posting(posting(reward=Decimal("0.999"))),
        "reward",
    ),
    "title too long": (lambda c: c.create_posting(posting(title="t" * 129)), "title"),
    "exists with values": (
        lambda c: c.create_posting(
            posting(requirements=(Requirement("3QUAL", "DoesNotExist", integer_values=(1,)),))
        ),
        "requirements.0.integer_values",
    ),
    "unknown comparator": (
        lambda c: c.create_posting(posting(requirements=(Requirement("3QUAL", "Above"),))),
        "requirements.0.comparator",
    ),
    "lowercase country": (
        lambda c: c.create_posting(
            posting(
                requirements=(
                    Requirement(
                        MTURK_SYSTEM_QUALIFICATIONS["locale"],
                        "EqualTo",
                        locale_values=({"Country": "us"},),
                    ),
                )
            )
        ),
        "requirements.0.locale_values.0",
    ),
    "extend by nothing": (lambda c: c.extend_posting("3ABC"), "add_assignments"),
    "revoke from a bad worker": (lambda c: c.revoke_qualification("3Q", "Aworker"), "worker_id"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_is_refused_before_any_call(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator, case: str
) -> None:
    call, field = BAD_CALLS[case]
    with pytest.raises(ValidationFailed) as caught:
        call(adapter)
    assert caught.value.status == 422
    assert field in caught.value.fields, caught.value.fields
    assert calls(mturk_emulator) == 0


def test_money_goes_out_with_exactly_two_decimals(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    hit = mturk_emulator.seed_hit(assignments=1)
    adapter.send_bonus(hit.worker_ids[0], hit.assignment_ids[0], Decimal("2"), "x", token="t")
    (bonus,) = mturk_emulator.state.bonuses.values()
    assert bonus.amount == Decimal("2.00")


# --- messages --------------------------------------------------------------------------


def test_notify_250_workers_takes_3_calls_with_a_result_each(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    known = [f"AKNOWN{i:04d}" for i in range(245)]
    unknown = [f"ASTRANGER{i}" for i in range(5)]
    mturk_emulator.seed_workers(known)
    workers = known[:120] + unknown + known[120:]
    results = adapter.notify(workers + known[:3], "A follow-up study", "Hello again")
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 3
    assert [r.worker_id for r in results] == workers  # once each, in order
    failed = {r.worker_id: r for r in results if not r.ok}
    assert set(failed) == set(unknown)
    assert failed[unknown[0]].platform_code == "HardFailure"
    assert "has not worked for you" in failed[unknown[0]].problem
    assert len(mturk_emulator.state.messages) == 245


def test_notify_retries_throttling(adapter: MTurkClient, mturk_emulator: MTurkEmulator) -> None:
    workers = [f"AW{i:04d}" for i in range(50)]
    mturk_emulator.seed_workers(workers)
    mturk_emulator.faults.fail_next("NotifyWorkers", "throttle", times=2)
    assert all(r.ok for r in adapter.notify(workers, "Subject", "Body"))
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 3
    assert len(mturk_emulator.state.messages) == 50


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_notify_is_never_resent_after_it_may_have_been_delivered(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator, kind: str
) -> None:
    workers = [f"AW{i:04d}" for i in range(250)]
    mturk_emulator.seed_workers(workers)
    # The first 100 are messaged, then the answer is lost: a retry would message
    # them twice, so there is none, and the other 150 are not sent either.
    mturk_emulator.faults.fail_next("NotifyWorkers", kind)
    results = adapter.notify(workers, "Subject", "Body")
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 1
    assert len(mturk_emulator.state.messages) == 100
    assert [r.worker_id for r in results] == workers
    assert not any(r.ok for r in results)
    assert all("may have delivered" in r.problem for r in results[:100])
    assert all(r.problem.startswith("Not sent") for r in results[100:])


def test_notify_refused_outright_raises_when_nothing_was_sent(
    mturk_emulator: MTurkEmulator,
) -> None:
    adapter = connect(mturk_emulator.url, max_attempts=2)
    mturk_emulator.seed_workers(["AW1"])
    mturk_emulator.faults.fail_next("NotifyWorkers", "throttle", times=2)
    with pytest.raises(PlatformUnavailable) as caught:
        adapter.notify(["AW1"], "Subject", "Body")
    assert caught.value.retryable
    assert mturk_emulator.state.messages == []


# --- qualifications --------------------------------------------------------------------


def test_qualification_lifecycle(adapter: MTurkClient, mturk_emulator: MTurkEmulator) -> None:
    made = adapter.create_qualification_type("crowdgate: study-1 participants", "Took part")
    assert made.name == "crowdgate: study-1 participants" and made.status == "active"
    assert adapter.find_qualification_type("crowdgate: study-1 participants") == made
    assert adapter.find_qualification_type("crowdgate: study-1") is None
    # Creating it again (a retry after a lost answer) gives the same type.
    assert adapter.create_qualification_type("crowdgate: study-1 participants", "x") == made

    workers = [f"AQ{i:04d}" for i in range(130)]
    mturk_emulator.seed_workers(workers)
    for worker in workers:
        adapter.grant_qualification(made.id, worker)
    adapter.grant_qualification(made.id, workers[0], value=7)
    granted = {g.worker_id: g for g in adapter.list_qualified(made.id)}
    assert set(granted) == set(workers)
    assert granted[workers[0]].value == 7 and granted[workers[1]].value == 1
    assert mturk_emulator.faults.calls["ListWorkersWithQualificationType"] == 2
    assert mturk_emulator.state.messages == []  # granted without notifying

    adapter.revoke_qualification(made.id, workers[0], "Reset")
    assert workers[0] not in {g.worker_id for g in adapter.list_qualified(made.id)}


def test_granting_an_unknown_type_keeps_mturks_code(adapter: MTurkClient) -> None:
    with pytest.raises(PlatformRejected) as caught:
        adapter.grant_qualification("3NOSUCHTYPE", "AW1")
    assert caught.value.platform_code == "AWS.MechanicalTurk.QualificationTypeDoesNotExist"


# --- HITs ------------------------------------------------------------------------------


def test_create_a_hit_with_requirements(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    exclusion = adapter.create_qualification_type("crowdgate: earlier", "Took part before")
    request = posting(
        keywords="survey, research",
        annotation="study-1",
        frame_height=0,
        requirements=(
            Requirement(
                MTURK_SYSTEM_QUALIFICATIONS["approval_rate"],
                "GreaterThanOrEqualTo",
                integer_values=(95,),
            ),
            Requirement(
                MTURK_SYSTEM_QUALIFICATIONS["locale"],
                "In",
                locale_values=({"Country": "US"}, {"Country": "CA", "Subdivision": "ON"}),
            ),
            Requirement(exclusion.id, "DoesNotExist", actions_guarded="DiscoverPreviewAndAccept"),
        ),
    )
    made = adapter.create_posting(request)
    assert made.assignments == 9 and made.available == 9
    assert made.reward == Decimal("1.50") and made.status == "assignable"
    assert made.type_id and made.created_at is not None and made.expires_at is not None
    assert get_platform("mturk").worker_url("sandbox", made) == (
        f"https://workersandbox.mturk.com/projects/{made.type_id}/tasks"
    )

    hit = adapter.client.get_hit(HITId=made.id)["HIT"]
    question = ET.fromstring(hit["Question"])
    assert question.findtext(f"{NS}ExternalURL") == request.external_url
    assert question.findtext(f"{NS}FrameHeight") == "0"
    required = {r["QualificationTypeId"]: r for r in hit["QualificationRequirements"]}
    assert required["000000000000000000L0"]["IntegerValues"] == [95]
    assert required["00000000000000000071"]["LocaleValues"] == [
        {"Country": "US"},
        {"Country": "CA", "Subdivision": "ON"},
    ]
    assert required[exclusion.id]["Comparator"] == "DoesNotExist"
    assert required[exclusion.id]["ActionsGuarded"] == "DiscoverPreviewAndAccept"
    assert adapter.get_posting(made.id) == made


def test_a_repeated_token_gives_the_same_hit(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    mturk_emulator.faults.fail_next("CreateHIT", "500")
    first = adapter.create_posting(posting(unique_token="study-1-batch-1"))
    again = adapter.create_posting(posting(unique_token="study-1-batch-1"))
    assert again.id == first.id
    assert list(mturk_emulator.state.hits) == [first.id]
    # No token given: the adapter still sends one, so botocore's retry cannot duplicate.
    mturk_emulator.faults.fail_next("CreateHIT", "drop")
    adapter.create_posting(posting())
    assert len(mturk_emulator.state.hits) == 2


def test_extend_and_expire(adapter: MTurkClient, mturk_emulator: MTurkEmulator) -> None:
    made = adapter.create_posting(posting(assignments=10))
    mturk_emulator.faults.fail_next("CreateAdditionalAssignmentsForHIT", "500")
    later = datetime.now(UTC) + timedelta(days=10)
    adapter.extend_posting(made.id, add_assignments=5, expires_at=later)
    extended = adapter.get_posting(made.id)
    assert extended.assignments == 15  # added once despite the retry
    assert extended.expires_at is not None
    assert abs((extended.expires_at - later).total_seconds()) < 2
    adapter.expire_posting(made.id)
    expired = adapter.get_posting(made.id)
    assert expired.expires_at is not None and expired.expires_at <= datetime.now(UTC)


def test_mturks_rule_against_crossing_ten_assignments_is_kept(
    adapter: MTurkClient, mturk_emulator: MTurkEmulator
) -> None:
    made = adapter.create_posting(posting(assignments=9))
    with pytest.raises(PlatformRejected) as caught:
        adapter.extend_posting(made.id, add_assignments=1)
    assert caught.value.platform_code == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    assert adapter.get_posting(made.id).assignments == 9
