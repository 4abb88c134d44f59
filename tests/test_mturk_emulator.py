"""The MTurk emulator, through a real boto3 client over a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from crowdgate.testing import MTurkEmulator, external_question, parse_answers

from tests.mturk_fixtures import FAKE_CREDENTIALS, mturk_client

SURVEY = external_question("https://survey.example.org/s?study=1", 600)


def new_hit(client: Any, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Title": "A survey",
        "Description": "Ten minutes of questions",
        "Reward": "1.00",
        "MaxAssignments": 5,
        "LifetimeInSeconds": 3600,
        "AssignmentDurationInSeconds": 1800,
        "Question": SURVEY,
    }
    fields.update(extra)
    return client.create_hit(**fields)["HIT"]


def single_attempt(url: str) -> Any:
    return mturk_client(url, retries={"mode": "standard", "total_max_attempts": 1})


def turk_code(error: ClientError) -> str:
    return str(error.response.get("TurkErrorCode"))


def control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            raise RefusedByControl(error.code, json.loads(error.read())) from None


class RefusedByControl(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


# -- HITs --------------------------------------------------------------------------------


def test_create_hit_charges_reward_and_fee_and_reads_back(mturk: Any, mturk_emulator: Any) -> None:
    hit = new_hit(mturk, MaxAssignments=9, RequesterAnnotation="batch 1")
    assert hit["HITStatus"] == "Assignable"
    assert hit["NumberOfAssignmentsAvailable"] == 9
    assert hit["Question"] == SURVEY
    # 9 x ($1.00 + 20%)
    assert mturk.get_account_balance()["AvailableBalance"] == "9989.20"
    again = mturk.get_hit(HITId=hit["HITId"])["HIT"]
    assert again["RequesterAnnotation"] == "batch 1"
    assert again["Expiration"] > again["CreationTime"]
    new_hit(mturk, MaxAssignments=10)  # 40% from 10 assignments on
    assert mturk.get_account_balance()["AvailableBalance"] == "9975.20"


def test_create_hit_refuses_bad_input(mturk: Any) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Reward": "1.005"}, "AWS.ParameterOutOfRange"),
        ({"Reward": "0.00"}, "AWS.ParameterOutOfRange"),
        ({"Question": "<not xml"}, "AWS.MechanicalTurk.XMLParseError"),
        (
            {"Question": external_question("http://plain.example.org/")},
            "AWS.MechanicalTurk.XMLParseError",
        ),
        (
            {
                "QualificationRequirements": [
                    {"QualificationTypeId": "NOSUCHTYPE", "Comparator": "Exists"}
                ]
            },
            "AWS.MechanicalTurk.QualificationTypeDoesNotExist",
        ),
        (
            {
                "QualificationRequirements": [
                    {"QualificationTypeId": "000000000000000000L0", "Comparator": "GreaterThan"}
                ]
            },
            "AWS.ParameterOutOfRange",
        ),
        (
            {
                "QualificationRequirements": [
                    {
                        "QualificationTypeId": "00000000000000000071",
                        "Comparator": "EqualTo",
                        "IntegerValues": [1],
                    }
                ]
            },
            "AWS.ParameterOutOfRange",
        ),
    ]
    for extra, code in cases:
        with pytest.raises(mturk.exceptions.RequestError) as caught:
            new_hit(mturk, **extra)
        assert turk_code(caught.value) == code, extra
    assert mturk.list_hits()["NumResults"] == 0


def test_create_hit_requirements_and_hit_type(mturk: Any) -> None:
    kind = mturk.create_qualification_type(
        Name="took part before", Description="x", QualificationTypeStatus="Active"
    )["QualificationType"]
    requirements = [
        {
            "QualificationTypeId": "000000000000000000L0",
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [95],
        },
        {
            "QualificationTypeId": "00000000000000000071",
            "Comparator": "In",
            "LocaleValues": [{"Country": "US"}, {"Country": "CA"}],
        },
        {"QualificationTypeId": kind["QualificationTypeId"], "Comparator": "DoesNotExist"},
    ]
    hit = new_hit(mturk, QualificationRequirements=requirements)
    assert hit["QualificationRequirements"] == requirements
    type_id = mturk.create_hit_type(
        Title="A survey", Description="d", Reward="0.50", AssignmentDurationInSeconds=600
    )["HITTypeId"]
    made = mturk.create_hit_with_hit_type(HITTypeId=type_id, LifetimeInSeconds=600, Question=SURVEY)
    assert made["HIT"]["HITTypeId"] == type_id and made["HIT"]["Reward"] == "0.50"
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.create_hit_with_hit_type(
            HITTypeId="NOSUCHTYPE", LifetimeInSeconds=600, Question=SURVEY
        )


def test_create_hit_unique_request_token(mturk: Any, mturk_emulator: Any) -> None:
    first = new_hit(mturk, UniqueRequestToken="study-1-batch-1")
    balance = mturk_emulator.state.balance
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        new_hit(mturk, UniqueRequestToken="study-1-batch-1")
    assert turk_code(caught.value) == "AWS.MechanicalTurk.HitAlreadyExists"
    assert first["HITId"] in caught.value.response["Message"]
    assert len(mturk_emulator.state.hits) == 1
    assert mturk_emulator.state.balance == balance
    new_hit(mturk, UniqueRequestToken="study-1-batch-2")
    assert len(mturk_emulator.state.hits) == 2


def test_insufficient_funds(mturk: Any, mturk_emulator: Any) -> None:
    mturk_emulator.set_balance("5.00")
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        new_hit(mturk, MaxAssignments=9)
    assert turk_code(caught.value) == "AWS.MechanicalTurk.InsufficientFunds"
    assert mturk.get_account_balance()["AvailableBalance"] == "5.00"


def test_get_hit_unknown_and_malformed(mturk: Any) -> None:
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.get_hit(HITId="3NOSUCHHIT")
    assert turk_code(caught.value) == "AWS.MechanicalTurk.HITDoesNotExist"
    assert "3NOSUCHHIT" in caught.value.response["Error"]["Message"]
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.get_hit(HITId="lower-case")


def test_list_hits_pages(mturk: Any, mturk_emulator: Any) -> None:
    made = {h.hit_id for h in mturk_emulator.seed_hits(230, assignments=1)}
    pages = list(mturk.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 100}))
    assert [p["NumResults"] for p in pages] == [100, 100, 30]
    assert [h["HITId"] for p in pages for h in p["HITs"]] == sorted(
        made, key=lambda i: mturk_emulator.state.hits[i].seq
    )
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.list_hits(MaxResults=101)
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.list_hits(NextToken="not-a-token")


def test_update_expiration_extend_and_expire(mturk: Any, mturk_emulator: Any) -> None:
    hit = new_hit(mturk)
    later = time.time() + 7200
    mturk.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=later)
    got = mturk.get_hit(HITId=hit["HITId"])["HIT"]
    assert abs(got["Expiration"].timestamp() - later) < 1
    mturk.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=0)
    got = mturk.get_hit(HITId=hit["HITId"])["HIT"]
    assert got["HITStatus"] == "Reviewable"
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.update_expiration_for_hit(HITId=hit["HITId"], ExpireAt=time.time() + 400 * 86400)
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.update_expiration_for_hit(HITId="NOSUCHHIT", ExpireAt=0)


def test_additional_assignments(mturk: Any, mturk_emulator: Any) -> None:
    hit = new_hit(mturk, MaxAssignments=5)
    mturk.create_additional_assignments_for_hit(
        HITId=hit["HITId"], NumberOfAdditionalAssignments=4, UniqueRequestToken="more-1"
    )
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["MaxAssignments"] == 9
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.create_additional_assignments_for_hit(
            HITId=hit["HITId"], NumberOfAdditionalAssignments=4, UniqueRequestToken="more-1"
        )
    assert "has already been processed" in caught.value.response["Error"]["Message"]
    # From fewer than 10 to 10 or more is refused: the fee would jump to 40%.
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.create_additional_assignments_for_hit(
            HITId=hit["HITId"], NumberOfAdditionalAssignments=1
        )
    assert turk_code(caught.value) == "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease"
    assert mturk.get_hit(HITId=hit["HITId"])["HIT"]["MaxAssignments"] == 9


def test_delete_hit(mturk: Any, mturk_emulator: Any) -> None:
    hit = new_hit(mturk)
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.delete_hit(HITId=hit["HITId"])
    assert turk_code(caught.value) == "AWS.MechanicalTurk.InvalidHITState"
    seeded = mturk_emulator.seed_hit(assignments=2)
    mturk.update_expiration_for_hit(HITId=seeded.hit_id, ExpireAt=0)
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.delete_hit(HITId=seeded.hit_id)  # assignments still waiting for review
    for assignment_id in seeded.assignment_ids:
        mturk.approve_assignment(AssignmentId=assignment_id)
    mturk.delete_hit(HITId=seeded.hit_id)
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.get_hit(HITId=seeded.hit_id)
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.get_assignment(AssignmentId=seeded.assignment_ids[0])


# -- assignments -------------------------------------------------------------------------


def test_pagination_over_1050_assignments(mturk: Any, mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(assignments=1050)
    paginator = mturk.get_paginator("list_assignments_for_hit")
    pages = list(paginator.paginate(HITId=seeded.hit_id))
    ids = [a["AssignmentId"] for p in pages for a in p["Assignments"]]
    assert len(pages) == 11
    assert all(p["NumResults"] <= 100 for p in pages)
    assert len(ids) == len(set(ids)) == 1050
    assert ids == seeded.assignment_ids
    small = list(paginator.paginate(HITId=seeded.hit_id, PaginationConfig={"PageSize": 7}))
    assert sum(p["NumResults"] for p in small) == 1050


def test_list_assignments_answers_and_status_filter(mturk: Any, mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(
        assignments=3,
        workers=["A1WORKERONE", "A2WORKERTWO", "A3WORKERTHREE"],
        answers=[{"surveycode": "ABC123"}, {"surveycode": " def 456 "}, {"surveycode": "<&é>"}],
        statuses=["Submitted", "Approved", "Rejected"],
        submit_times=[1_700_000_000.0, 1_700_000_100.0, 1_700_000_200.0],
    )
    everything = mturk.list_assignments_for_hit(HITId=seeded.hit_id)["Assignments"]
    assert [a["WorkerId"] for a in everything] == ["A1WORKERONE", "A2WORKERTWO", "A3WORKERTHREE"]
    assert [parse_answers(a["Answer"])["surveycode"] for a in everything] == [
        "ABC123",
        " def 456 ",
        "<&é>",
    ]
    assert "QuestionFormAnswers.xsd" in everything[0]["Answer"]
    assert everything[0]["SubmitTime"].timestamp() == 1_700_000_000.0
    assert "ApprovalTime" in everything[1] and "RejectionTime" in everything[2]
    submitted = mturk.list_assignments_for_hit(
        HITId=seeded.hit_id, AssignmentStatuses=["Submitted"]
    )
    assert [a["WorkerId"] for a in submitted["Assignments"]] == ["A1WORKERONE"]
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.list_assignments_for_hit(HITId="NOSUCHHIT")


def test_approve_and_reject(mturk: Any, mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(assignments=3)
    first, second, third = seeded.assignment_ids
    mturk.approve_assignment(AssignmentId=first, RequesterFeedback="Thanks")
    mturk.approve_assignment(AssignmentId=first)  # again: fine, and paid once
    got = mturk.get_assignment(AssignmentId=first)
    assert got["Assignment"]["AssignmentStatus"] == "Approved"
    assert got["Assignment"]["RequesterFeedback"] == "Thanks"
    assert got["HIT"]["HITId"] == seeded.hit_id
    assert mturk_emulator.state.assignments[first].times_approved == 1
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.reject_assignment(AssignmentId=first, RequesterFeedback="no")
    assert turk_code(caught.value) == "AWS.MechanicalTurk.InvalidAssignmentState"
    mturk.reject_assignment(AssignmentId=second, RequesterFeedback="Code not found")
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.reject_assignment(AssignmentId=second, RequesterFeedback="again")
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.approve_assignment(AssignmentId=second)
    mturk.approve_assignment(AssignmentId=second, OverrideRejection=True)
    assert mturk.get_assignment(AssignmentId=second)["Assignment"]["AssignmentStatus"] == "Approved"
    assert mturk_emulator.state.assignments[third].status == "Submitted"
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.approve_assignment(AssignmentId="NOSUCHASSIGNMENT")
    assert turk_code(caught.value) == "AWS.MechanicalTurk.AssignmentDoesNotExist"


# -- money and messages ------------------------------------------------------------------


def test_send_bonus_fee_and_listing(mturk: Any, mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(assignments=2)
    worker, other = seeded.worker_ids
    mturk.send_bonus(
        WorkerId=worker, AssignmentId=seeded.assignment_ids[0], BonusAmount="1.00", Reason="Great"
    )
    mturk.send_bonus(
        WorkerId=worker, AssignmentId=seeded.assignment_ids[0], BonusAmount="0.02", Reason="Tiny"
    )
    # $1.00 + $0.20, and $0.02 + the $0.01 minimum fee
    assert mturk.get_account_balance()["AvailableBalance"] == "9998.77"
    by_hit = mturk.list_bonus_payments(HITId=seeded.hit_id)["BonusPayments"]
    assert [(b["WorkerId"], b["BonusAmount"], b["Reason"]) for b in by_hit] == [
        (worker, "1.00", "Great"),
        (worker, "0.02", "Tiny"),
    ]
    assert mturk.list_bonus_payments(AssignmentId=seeded.assignment_ids[1])["BonusPayments"] == []
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.list_bonus_payments()
    bad_calls: list[dict[str, Any]] = [
        {"WorkerId": worker, "BonusAmount": "1.001"},
        {"WorkerId": worker, "BonusAmount": "-1"},
        {"WorkerId": worker, "BonusAmount": "0.00"},
        {"WorkerId": other, "BonusAmount": "1.00"},  # not this assignment's worker
        {"WorkerId": "not-a-worker", "BonusAmount": "1.00"},
    ]
    for call in bad_calls:
        with pytest.raises(mturk.exceptions.RequestError):
            mturk.send_bonus(AssignmentId=seeded.assignment_ids[0], Reason="r", **call)
    assert len(mturk_emulator.state.bonuses) == 2


def test_send_bonus_unique_request_token_for_24_hours() -> None:
    now = [1_800_000_000.0]
    with MTurkEmulator(clock=lambda: now[0]) as emulator:
        client = mturk_client(emulator.url)
        seeded = emulator.seed_hit(assignments=1)
        call = {
            "WorkerId": seeded.worker_ids[0],
            "AssignmentId": seeded.assignment_ids[0],
            "BonusAmount": "2.50",
            "Reason": "Bonus",
            "UniqueRequestToken": "bonus-1",
        }
        client.send_bonus(**call)
        with pytest.raises(client.exceptions.RequestError) as caught:
            client.send_bonus(**call)
        assert "has already been processed" in caught.value.response["Error"]["Message"]
        assert turk_code(caught.value) == "AWS.MechanicalTurk.DuplicateRequest"
        now[0] += 23 * 3600
        with pytest.raises(client.exceptions.RequestError):
            client.send_bonus(**call)
        assert len(emulator.state.bonuses) == 1
        assert emulator.state.balance == Decimal("10000.00") - Decimal("3.00")
        now[0] += 3600  # the token has expired: MTurk would pay again
        client.send_bonus(**call)
        assert len(emulator.state.bonuses) == 2


def test_notify_workers(mturk: Any, mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(assignments=2)
    mturk_emulator.seed_workers(["A9KNOWNBEFORE"])
    answer = mturk.notify_workers(
        Subject="New study",
        MessageText="Hello",
        WorkerIds=[*seeded.worker_ids, "A9KNOWNBEFORE", "A0STRANGER"],
    )
    assert answer["NotifyWorkersFailureStatuses"] == [
        {
            "NotifyWorkersFailureCode": "HardFailure",
            "NotifyWorkersFailureMessage": "Worker A0STRANGER has not worked for you.",
            "WorkerId": "A0STRANGER",
        }
    ]
    sent = [(m.worker_id, m.kind, m.subject) for m in mturk_emulator.state.messages]
    assert sent == [(w, "notification", "New study") for w in [*seeded.worker_ids, "A9KNOWNBEFORE"]]
    refused: list[dict[str, Any]] = [
        {"Subject": "s" * 201, "MessageText": "m", "WorkerIds": seeded.worker_ids},
        {"Subject": "s", "MessageText": "m" * 4097, "WorkerIds": seeded.worker_ids},
        {"Subject": "s", "MessageText": "m", "WorkerIds": [f"A{i}" for i in range(101)]},
        {"Subject": "s", "MessageText": "m", "WorkerIds": []},
        {"Subject": "s", "MessageText": "m", "WorkerIds": ["bad"]},
    ]
    for call in refused:
        with pytest.raises(mturk.exceptions.RequestError):
            mturk.notify_workers(**call)
    assert len(mturk_emulator.state.messages) == 3
    mturk.notify_workers(Subject="s" * 200, MessageText="m" * 4096, WorkerIds=seeded.worker_ids[:1])


# -- qualifications ----------------------------------------------------------------------


def test_qualification_types(mturk: Any) -> None:
    made = mturk.create_qualification_type(
        Name="crowdgate study-1 participants",
        Description="Took part in study-1",
        Keywords="crowdgate",
        QualificationTypeStatus="Active",
    )["QualificationType"]
    assert made["Name"] == "crowdgate study-1 participants"
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.create_qualification_type(
            Name="crowdgate study-1 participants", Description="d", QualificationTypeStatus="Active"
        )
    assert turk_code(caught.value) == "AWS.MechanicalTurk.QualificationTypeAlreadyExists"
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.create_qualification_type(Name="x", Description="d", QualificationTypeStatus="Maybe")
    for number in range(120):
        mturk.create_qualification_type(
            Name=f"other {number}", Description="d", QualificationTypeStatus="Active"
        )
    found = mturk.list_qualification_types(
        MustBeRequestable=False, MustBeOwnedByCaller=True, Query="study-1"
    )
    assert [q["QualificationTypeId"] for q in found["QualificationTypes"]] == [
        made["QualificationTypeId"]
    ]
    paginator = mturk.get_paginator("list_qualification_types")
    every = [
        q
        for p in paginator.paginate(MustBeRequestable=False, MustBeOwnedByCaller=True)
        for q in p["QualificationTypes"]
    ]
    assert len(every) == 121
    got = mturk.get_qualification_type(QualificationTypeId=made["QualificationTypeId"])
    assert got["QualificationType"]["Description"] == "Took part in study-1"
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.get_qualification_type(QualificationTypeId="NOSUCHTYPE")


def test_grants_and_revocations(mturk: Any, mturk_emulator: Any) -> None:
    type_id = mturk.create_qualification_type(
        Name="previous workers", Description="d", QualificationTypeStatus="Active"
    )["QualificationType"]["QualificationTypeId"]
    workers = [f"A{n:03d}WORKER" for n in range(150)]
    for worker in workers:
        mturk.associate_qualification_with_worker(
            QualificationTypeId=type_id, WorkerId=worker, IntegerValue=1, SendNotification=False
        )
    mturk.associate_qualification_with_worker(
        QualificationTypeId=type_id, WorkerId="A999TOLD", IntegerValue=7, SendNotification=True
    )
    assert [(m.worker_id, m.kind) for m in mturk_emulator.state.messages] == [
        ("A999TOLD", "qualification_granted")
    ]
    paginator = mturk.get_paginator("list_workers_with_qualification_type")
    listed = [
        q for p in paginator.paginate(QualificationTypeId=type_id) for q in p["Qualifications"]
    ]
    assert [q["WorkerId"] for q in listed] == [*workers, "A999TOLD"]
    assert listed[-1]["IntegerValue"] == 7 and listed[-1]["Status"] == "Granted"
    mturk.disassociate_qualification_from_worker(
        QualificationTypeId=type_id, WorkerId=workers[0], Reason="Sorry"
    )
    assert mturk_emulator.state.messages[-1].kind == "qualification_revoked"
    assert mturk_emulator.state.messages[-1].worker_id == workers[0]
    granted = [
        q for p in paginator.paginate(QualificationTypeId=type_id) for q in p["Qualifications"]
    ]
    assert len(granted) == 150
    revoked = mturk.list_workers_with_qualification_type(
        QualificationTypeId=type_id, Status="Revoked"
    )
    assert [q["WorkerId"] for q in revoked["Qualifications"]] == [workers[0]]
    with pytest.raises(mturk.exceptions.RequestError) as caught:
        mturk.disassociate_qualification_from_worker(
            QualificationTypeId=type_id, WorkerId=workers[0]
        )
    assert turk_code(caught.value) == "AWS.MechanicalTurk.QualificationDoesNotExist"
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.associate_qualification_with_worker(
            QualificationTypeId="NOSUCHTYPE", WorkerId=workers[1]
        )
    with pytest.raises(mturk.exceptions.RequestError):
        mturk.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="bad-id")


# -- protocol ----------------------------------------------------------------------------


def test_unknown_operation_and_bad_body(mturk_emulator: Any) -> None:
    def post(target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            mturk_emulator.url + "/",
            data=body,
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())

    status, body = post("MTurkRequesterServiceV20170117.LaunchRocket", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = post("MTurkRequesterServiceV20170117.GetHIT", b"{nope")
    assert status == 400 and body["__type"] == "RequestError"
    status, body = post("MTurkRequesterServiceV20170117.GetHIT", b"{}")
    assert status == 400 and body["TurkErrorCode"] == "AWS.MissingParameters"


# -- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_throttling_is_retried_until_success(mturk_emulator: Any, mode: str) -> None:
    client = mturk_client(mturk_emulator.url, retries={"mode": mode, "total_max_attempts": 5})
    mturk_emulator.faults.fail_next("GetAccountBalance", "throttle", times=2)
    answer = client.get_account_balance()
    assert answer["AvailableBalance"] == "10000.00"
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 3
    # Past the attempts allowed, the throttling reaches the caller.
    twice = mturk_client(mturk_emulator.url, retries={"mode": mode, "total_max_attempts": 2})
    mturk_emulator.faults.fail_next("GetAccountBalance", "throttle", times=2)
    with pytest.raises(ClientError) as caught:
        twice.get_account_balance()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"


def test_service_faults_are_retried_until_success(mturk_emulator: Any) -> None:
    client = mturk_client(mturk_emulator.url)
    mturk_emulator.faults.fail_next("ListHITs", "error", times=2)
    answer = client.list_hits()
    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    no_retries = mturk_client(
        mturk_emulator.url, retries={"mode": "standard", "total_max_attempts": 1}
    )
    mturk_emulator.faults.fail_next("ListHITs", "error")
    with pytest.raises(no_retries.exceptions.ServiceFault) as caught:
        no_retries.list_hits()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert turk_code(caught.value) == "AWS.ServiceUnavailable"


def test_fault_rates_are_seeded_and_retried(mturk_emulator: Any) -> None:
    client = mturk_client(
        mturk_emulator.url, retries={"mode": "standard", "total_max_attempts": 10}
    )
    seeded = mturk_emulator.seed_hit(assignments=250)

    def run() -> tuple[int, dict[str, int]]:
        mturk_emulator.faults.reset()
        mturk_emulator.faults.configure(throttle_rate=0.2, error_rate=0.2, seed=42)
        pages = client.get_paginator("list_assignments_for_hit").paginate(HITId=seeded.hit_id)
        count = sum(p["NumResults"] for p in pages)
        return count, dict(mturk_emulator.faults.injected)

    first = run()
    assert first[0] == 250
    assert sum(first[1].values()) > 0
    assert run() == first  # the same seed, the same faults


def test_commit_then_fail_on_approve_leaves_one_approval(mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(assignments=2)
    client = mturk_client(mturk_emulator.url)
    mturk_emulator.faults.configure(commit_then_fail={"ApproveAssignment": "500"})
    no_retries = mturk_client(
        mturk_emulator.url, retries={"mode": "standard", "total_max_attempts": 1}
    )
    with pytest.raises(no_retries.exceptions.ServiceFault):
        no_retries.approve_assignment(AssignmentId=seeded.assignment_ids[0])
    # The client saw a failure, but the approval happened.
    assert mturk_emulator.state.assignments[seeded.assignment_ids[0]].status == "Approved"
    mturk_emulator.faults.configure(commit_then_fail={})
    mturk_emulator.faults.fail_next("ApproveAssignment", "drop")
    client.approve_assignment(AssignmentId=seeded.assignment_ids[1])  # retried after the drop
    assert mturk_emulator.faults.calls["ApproveAssignment"] == 3
    assert mturk_emulator.faults.committed["ApproveAssignment"] == 3
    assert [a.times_approved for a in mturk_emulator.state.assignments.values()] == [1, 1]


def test_commit_then_drop_on_bonus_pays_once_with_a_token(mturk_emulator: Any) -> None:
    seeded = mturk_emulator.seed_hit(assignments=1)
    no_retries = mturk_client(
        mturk_emulator.url, retries={"mode": "standard", "total_max_attempts": 1}
    )
    mturk_emulator.faults.fail_next("SendBonus", "drop")
    call = {
        "WorkerId": seeded.worker_ids[0],
        "AssignmentId": seeded.assignment_ids[0],
        "BonusAmount": "1.00",
        "Reason": "r",
        "UniqueRequestToken": "tok-1",
    }
    with pytest.raises(ConnectionClosedError):
        no_retries.send_bonus(**call)
    with pytest.raises(no_retries.exceptions.RequestError):
        no_retries.send_bonus(**call)  # the caller's retry: refused, not paid again
    assert len(mturk_emulator.state.bonuses) == 1
    assert mturk_emulator.state.balance == Decimal("9998.80")


def test_latency_is_added(mturk_emulator: Any, mturk: Any) -> None:
    mturk_emulator.faults.configure(latency_ms=200)
    started = time.monotonic()
    mturk.get_account_balance()
    assert time.monotonic() - started >= 0.2


def test_fault_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        MTurkEmulator(throttle_rate=1.5)
    with pytest.raises(ValueError):
        MTurkEmulator(commit_then_fail={"ApproveAssignment": "explode"})


# -- control API, persistence, CLI -------------------------------------------------------


def test_control_api(mturk_emulator: Any, mturk: Any) -> None:
    made = control(
        mturk_emulator.url,
        "/_emulator/seed",
        {"hits": 2, "assignments": 3, "answers": {"surveycode": "XYZ"}, "statuses": "Approved"},
    )
    assert len(made["hits"]) == 2 and len(made["hits"][0]["assignment_ids"]) == 3
    assignments = mturk.list_assignments_for_hit(HITId=made["hits"][1]["hit_id"])["Assignments"]
    assert {parse_answers(a["Answer"])["surveycode"] for a in assignments} == {"XYZ"}
    assert {a["AssignmentStatus"] for a in assignments} == {"Approved"}
    control(mturk_emulator.url, "/_emulator/faults", {"throttle_rate": 1.0})
    no_retries = mturk_client(
        mturk_emulator.url, retries={"mode": "standard", "total_max_attempts": 1}
    )
    with pytest.raises(ClientError):
        no_retries.get_account_balance()
    described = control(mturk_emulator.url, "/_emulator/faults", {"throttle_rate": 0.0})
    assert described["calls"]["GetAccountBalance"] == 1
    assert control(mturk_emulator.url, "/_emulator/state")["assignments"] == 6
    with pytest.raises(RefusedByControl) as caught:
        control(mturk_emulator.url, "/_emulator/faults", {"error_rate": 2})
    assert caught.value.status == 400 and "error_rate" in caught.value.body["error"]
    control(mturk_emulator.url, "/_emulator/reset", {"balance": "50.00"})
    assert mturk.get_account_balance()["AvailableBalance"] == "50.00"
    assert mturk.list_hits()["NumResults"] == 0


def test_seeding_10000_assignments_is_fast(mturk_emulator: Any) -> None:
    started = time.monotonic()
    seeded = mturk_emulator.seed_hits(100, assignments=100)
    assert time.monotonic() - started < 3
    assert len(mturk_emulator.state.assignments) == 10_000
    assert len({w for s in seeded for w in s.worker_ids}) == 10_000


def test_state_persists_across_restart(tmp_path: Path) -> None:
    path = tmp_path / "mturk.json"
    with MTurkEmulator(state_path=path, balance="100.00") as emulator:
        client = mturk_client(emulator.url)
        seeded = emulator.seed_hit(assignments=2, answers={"surveycode": "KEEP"})
        client.approve_assignment(AssignmentId=seeded.assignment_ids[0])
        client.send_bonus(
            WorkerId=seeded.worker_ids[1],
            AssignmentId=seeded.assignment_ids[1],
            BonusAmount="1.00",
            Reason="r",
            UniqueRequestToken="persisted-token",
        )
        type_id = client.create_qualification_type(
            Name="q", Description="d", QualificationTypeStatus="Active"
        )["QualificationType"]["QualificationTypeId"]
        client.associate_qualification_with_worker(QualificationTypeId=type_id, WorkerId="A1KEPT")
    assert not list(tmp_path.glob(".mturk.json.*"))  # no temporary files left behind
    with MTurkEmulator(state_path=path, balance="999.00") as emulator:
        client = mturk_client(emulator.url)
        assert client.get_account_balance()["AvailableBalance"] == "98.80"
        listed = client.list_assignments_for_hit(HITId=seeded.hit_id)["Assignments"]
        assert [a["AssignmentStatus"] for a in listed] == ["Approved", "Submitted"]
        assert parse_answers(listed[0]["Answer"]) == {"surveycode": "KEEP"}
        with pytest.raises(client.exceptions.RequestError):
            client.send_bonus(
                WorkerId=seeded.worker_ids[1],
                AssignmentId=seeded.assignment_ids[1],
                BonusAmount="1.00",
                Reason="r",
                UniqueRequestToken="persisted-token",
            )
        workers = client.list_workers_with_qualification_type(QualificationTypeId=type_id)
        assert [q["WorkerId"] for q in workers["Qualifications"]] == ["A1KEPT"]
        more = emulator.seed_hit(assignments=1)
        assert more.assignment_ids[0] not in seeded.assignment_ids


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_command_serves_boto3(tmp_path: Path) -> None:
    port = _free_port()
    state = tmp_path / "state.json"
    command = [
        sys.executable, "-c", "from crowdgate.cli import main; main()",
        "mturk-emulator", "--port", str(port), "--state", str(state), "--balance", "25.50",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **FAKE_CREDENTIALS},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first, (
            first + process.stderr.read() if process.poll() else first
        )
        printed = "".join(process.stdout.readline() for _ in range(5))
        assert f"CROWDGATE_MTURK_ENDPOINT_URL=http://127.0.0.1:{port}" in printed
        client = mturk_client(f"http://127.0.0.1:{port}")
        assert client.get_account_balance()["AvailableBalance"] == "25.50"
        new_hit(client, Reward="0.10", MaxAssignments=2)
        assert json.loads(state.read_text())["balance"] == "25.26"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_cli_command_refuses_bad_options() -> None:
    from click.testing import CliRunner
    from crowdgate.cli import main

    result = CliRunner().invoke(main, ["mturk-emulator", "--balance", "ten", "--port", "0"])
    assert result.exit_code == 2 and "ten" in result.output
    result = CliRunner().invoke(main, ["mturk-emulator", "--throttle-rate", "3"])
    assert result.exit_code == 2
