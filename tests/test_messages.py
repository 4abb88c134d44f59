"""Messages: every refusal, the dry run, and sending each worker a message at most once
against the MTurk emulator, in chunks of 100, through failures, cancels and restarts."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from crowdgate.api.platform_access import client_for
from crowdgate.domain import job_items, job_runner, jobs
from crowdgate.domain.message_plans import message_key
from crowdgate.domain.messages import outcome_of
from crowdgate.models import Job, Message, MessageRecipient, Participant, Study
from crowdgate.platforms import NotifyResult
from sqlalchemy import select

from tests.http import assert_error


@pytest.fixture
def app_config(
    app_config: dict[str, Any], mturk_env: str, request: pytest.FixtureRequest
) -> dict[str, Any]:
    # A test may add settings by parametrizing app_config indirectly.
    extra = getattr(request, "param", {})
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 3,
        **extra,
    }


QUEUE = pytest.mark.parametrize("app_config", [{"CROWDGATE_JOB_RUNNER": "queue"}], indirect=True)


def workers(count: int, prefix: str = "A1MSG") -> list[str]:
    return [f"{prefix}{n:06d}" for n in range(count)]


@pytest.fixture
def study(admin: Any, make_study: Any, db: Any, clock: Any, mturk_emulator: Any) -> Any:
    """A sandbox MTurk study with participants written straight to its record (hundreds
    of survey starts would only slow the tests down), known to the emulator."""

    def make(
        names: list[str],
        *,
        status: str = "submitted",
        condition: str | None = None,
        known: bool = True,
        **fields: Any,
    ) -> str:
        created, _ = make_study(**{"platform": "mturk", "mode": "sandbox", **fields})
        add_participants(db, clock, created["slug"], names, status=status, condition=condition)
        if known:
            mturk_emulator.seed_workers(names)
        return str(created["slug"])

    return make


def add_participants(
    db: Any, clock: Any, slug: str, names: list[str], *, status: str, condition: str | None
) -> None:
    with db.write() as session:
        study_id = session.scalar(select(Study.id).where(Study.slug == slug))
        session.add_all(
            [
                Participant(
                    study_id=study_id,
                    worker_id=name,
                    attempt=1,
                    status=status,
                    condition=condition,
                    state={},
                    extra_submissions=[],
                    started_at=clock(),
                    updated_at=clock(),
                )
                for name in names
            ]
        )


def send(admin: Any, slug: str, **body: Any) -> dict[str, Any]:
    request = {"subject": "Thank you", "body": "Your bonus is on its way.", **body}
    response = admin.post(f"/studies/{slug}/messages", json={**request, "dry_run": False})
    assert response.status_code == 202, response.text
    return response.json()["job"]  # type: ignore[no-any-return]


def plan(admin: Any, slug: str, **body: Any) -> dict[str, Any]:
    request = {"subject": "Thank you", "body": "Your bonus is on its way.", **body}
    response = admin.post(f"/studies/{slug}/messages", json=request)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def run(app: Any, db: Any, clock: Any, admin: Any, job_id: str) -> dict[str, Any]:
    """Run a queued job here, as a job runner would; the job as the API shows it."""
    jobs.run_job(db, job_id, clock=clock, connect=lambda p, m: client_for(app, p, m))
    return admin.get(f"/jobs/{job_id}").json()  # type: ignore[no-any-return]


def delivered(mturk_emulator: Any) -> Counter[str]:
    return Counter(m.worker_id for m in mturk_emulator.state.messages if m.kind == "notification")


def recipients(admin: Any, slug: str, message_id: int, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": 97, **params}
        if cursor:
            query["cursor"] = cursor
        page = admin.get(f"/studies/{slug}/messages/{message_id}/recipients", params=query)
        assert page.status_code == 200, page.text
        rows += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


def only_message(admin: Any, slug: str) -> dict[str, Any]:
    listed = admin.get(f"/studies/{slug}/messages")
    assert listed.status_code == 200, listed.text
    [message] = listed.json()["items"]
    return message  # type: ignore[no-any-return]


def test_every_refusal_is_listed_and_a_send_with_any_sends_nothing(admin, study, mturk_emulator):
    names = workers(3)
    slug = study(names)
    asked = [names[0], "not-an-mturk-id", names[1], names[0], "A1STRANGER0001", names[2]]
    answer = plan(admin, slug, worker_ids=asked)
    assert {r["index"]: r["code"] for r in answer["refused"]} == {
        1: "invalid_worker_id",
        3: "duplicate_in_request",
        4: "not_a_participant",
    }
    assert all(r["detail"] for r in answer["refused"])
    assert answer["count"] == 3 and answer["recipients"] == names

    refusal = admin.post(
        f"/studies/{slug}/messages",
        json={"subject": "Hi", "body": "Thanks", "worker_ids": asked, "dry_run": False},
    )
    assert_error(refusal, 422, "message_recipients_refused", "worker_ids")
    assert len(refusal.json()["refused"]) == 3
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 0
    assert admin.get(f"/studies/{slug}/messages").json()["items"] == []


def test_bad_requests_are_4xx_naming_the_field(admin, study, make_study, mturk_emulator):
    slug = study(workers(1))
    url = f"/studies/{slug}/messages"
    base = {"subject": "Hi", "body": "Thanks", "status": ["submitted"]}
    assert_error(
        admin.post(url, json={**base, "subject": None}), 422, "validation_error", "subject"
    )
    assert_error(admin.post(url, json={**base, "body": "  "}), 422, "validation_error", "body")
    neither = {"subject": "Hi", "body": "Thanks"}
    assert_error(admin.post(url, json=neither), 422, "validation_error", "worker_ids")
    both = {**base, "worker_ids": ["A1MSG000000"]}
    assert_error(admin.post(url, json=both), 422, "validation_error", "worker_ids")
    bad_status = {**base, "status": ["lost"]}
    assert_error(admin.post(url, json=bad_status), 422, "validation_error", "status.0")
    # MTurk's own limits, checked before anything is sent, dry run or not.
    long_subject = {**base, "subject": "x" * 201}
    assert_error(admin.post(url, json=long_subject), 422, "validation_error", "subject")
    long_body = {**base, "body": "x" * 4097, "dry_run": False}
    assert_error(admin.post(url, json=long_body), 422, "validation_error", "body")
    assert plan(admin, slug, subject="x" * 200, body="y" * 4096, status=["submitted"])["count"] == 1
    listing = admin.get(f"{url}/1/recipients?outcome=lost")
    assert_error(listing, 422, "validation_error", "outcome")
    assert_error(admin.get(f"{url}/999/recipients"), 404, "message_not_found")
    assert_error(admin.get("/studies/no-such-study/messages"), 404, "study_not_found")

    # The same key with other words is another message: refused, not overwritten.
    send(admin, slug, status=["submitted"], key="reminder")
    conflict = admin.post(url, json={**base, "body": "Other words", "key": "reminder"})
    assert_error(conflict, 409, "message_key_conflict", "key")

    offline, _ = make_study(platform="none")
    none_url = f"/studies/{offline['slug']}/messages"
    assert_error(admin.post(none_url, json=base), 409, "not_supported_by_platform")
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 1


def test_live_mode_needs_confirm(admin, study, db, mturk_emulator):
    names = workers(2)
    slug = study(names, mode="live")
    # A live study's calls would go to MTurk itself: the plan is all this test asks for.
    refused = admin.post(
        f"/studies/{slug}/messages",
        json={"subject": "Hi", "body": "Thanks", "worker_ids": names, "dry_run": False},
    )
    assert_error(refused, 422, "confirmation_required", "confirm")
    assert plan(admin, slug, worker_ids=names)["count"] == 2
    with db.read() as session:
        assert session.scalar(select(Message.id)) is None


def test_dry_run_shows_who_would_receive_it_and_sends_nothing(
    admin, study, db, clock, mturk_emulator
):
    short, long = workers(4, "A1SHORT"), workers(3, "A1LONG")
    slug = study(short, condition="short")
    add_participants(db, clock, slug, long, status="submitted", condition="long")
    add_participants(db, clock, slug, ["A1RETURNED001"], status="returned", condition="short")
    mturk_emulator.seed_workers([*long, "A1RETURNED001"])

    everyone = plan(admin, slug, status=["submitted", "returned"])
    assert everyone["dry_run"] is True and everyone["count"] == 8
    assert everyone["recipients"] == [*short, *long, "A1RETURNED001"]
    assert everyone["recipients_truncated"] is False
    assert everyone["key"] == message_key("Thank you", "Your bonus is on its way.")
    assert everyone["message_id"] is None
    assert plan(admin, slug, condition="long")["recipients"] == long
    by_both = plan(admin, slug, status=["returned"], condition="short")
    assert by_both["recipients"] == ["A1RETURNED001"]
    assert plan(admin, slug, condition="nobody")["count"] == 0

    assert mturk_emulator.faults.calls["NotifyWorkers"] == 0
    assert delivered(mturk_emulator) == Counter()
    assert admin.get(f"/studies/{slug}/messages").json()["items"] == []

    # After a send, the plan of the same message counts who it reached.
    send(admin, slug, condition="long")
    again = plan(admin, slug, status=["submitted"])
    assert again["count"] == 4 and again["already_sent"] == 3
    assert again["recipients"] == short and again["message_id"] is not None


def test_chunks_of_100_with_partial_failures(admin, study, db, clock, mturk_emulator):
    names = workers(250)
    slug = study(names)
    strangers = workers(5, "A1UNKNOWN")  # MTurk refuses them: they never worked for us
    add_participants(db, clock, slug, strangers, status="submitted", condition=None)
    soft, hard = names[10:13], names[120:122]
    mturk_emulator.fail_notify(soft, "SoftFailure")
    mturk_emulator.fail_notify(hard, "HardFailure")

    job = send(admin, slug, status=["submitted"])
    assert job["state"] == "succeeded", job
    assert job["kind"] == "message"
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 3  # 255 workers: 100, 100, 55
    assert job["counts"] == {
        "sent": 245,
        "soft_failure": 3,
        "hard_failure": 7,
        "unclear": 0,
        "unsent": 0,
    }
    assert job["total"] == 255 and job["done"] == 245 and job["failed"] == 10
    reached = delivered(mturk_emulator)
    assert set(reached) == set(names) - set(soft) - set(hard)
    assert set(reached.values()) == {1}

    message = only_message(admin, slug)
    assert message["counts"] == {"sent": 245, "soft_failure": 3, "hard_failure": 7}
    failed = recipients(admin, slug, message["id"], state="failed")
    assert {r["worker_id"]: r["outcome"] for r in failed} == {
        **dict.fromkeys(soft, "soft_failure"),
        **dict.fromkeys([*hard, *strangers], "hard_failure"),
    }
    assert {r["platform_code"] for r in failed} == {"SoftFailure", "HardFailure"}
    assert all(r["error"] for r in failed)
    sent = recipients(admin, slug, message["id"], outcome="sent")
    assert len(sent) == 245 and all(r["sent_at"] and r["attempts"] == 1 for r in sent)


def test_never_twice_resubmitting_reaches_only_workers_not_yet_reached(
    admin, study, db, clock, mturk_emulator
):
    first, later = workers(150), workers(60, "A1LATER")
    slug = study(first)
    mturk_emulator.fail_notify(first[:2], "SoftFailure")
    job = send(admin, slug, status=["submitted"])
    assert job["counts"]["sent"] == 148 and job["counts"]["soft_failure"] == 2

    add_participants(db, clock, slug, later, status="submitted", condition=None)
    mturk_emulator.seed_workers(later)
    planned = plan(admin, slug, status=["submitted"])
    assert planned["count"] == 60 and planned["recipients"] == later
    assert planned["already_sent"] == 148 and planned["already_failed"] == 2

    again = send(admin, slug, status=["submitted"])
    assert again["state"] == "succeeded" and again["counts"]["sent"] == 60, again
    assert again["total"] == 60
    reached = delivered(mturk_emulator)
    assert set(reached) == set(first[2:]) | set(later) and set(reached.values()) == {1}

    # Once more: nobody is left, and the message is still one row.
    last = send(admin, slug, status=["submitted"])
    assert last["state"] == "succeeded" and last["total"] == 0
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 3  # 100 + 50, then 60
    assert only_message(admin, slug)["counts"] == {"sent": 208, "soft_failure": 2}


def test_a_recipient_whose_send_was_unclear_is_never_sent_again(admin, study, mturk_emulator):
    """The second batch's call takes effect and its answer is a 500: MTurk may have
    delivered it, so those workers are settled unclear and a resend skips them."""
    names = workers(230)
    slug = study(names)
    mturk_emulator.faults.fail_next("NotifyWorkers", "500", after=1)
    job = send(admin, slug, status=["submitted"])
    assert job["state"] == "succeeded", job
    assert job["counts"]["sent"] == 130 and job["counts"]["unclear"] == 100, job
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 3  # no retry of the 500

    message = only_message(admin, slug)
    unclear = recipients(admin, slug, message["id"], outcome="unclear")
    assert [r["worker_id"] for r in unclear] == names[100:200]
    assert all(r["state"] == "failed" and "may have" in r["error"] for r in unclear)

    again = send(admin, slug, status=["submitted"])
    assert again["total"] == 0
    assert mturk_emulator.faults.calls["NotifyWorkers"] == 3
    assert set(delivered(mturk_emulator).values()) == {1}
    assert plan(admin, slug, status=["submitted"])["already_failed"] == 100


def test_a_refused_call_is_retried_and_five_in_a_row_stop_the_job(admin, study, mturk_emulator):
    names = workers(120)
    slug = study(names)
    # Throttled on every attempt (3 per call): nothing was sent, so trying again is safe.
    mturk_emulator.faults.fail_next("NotifyWorkers", "throttle", times=3)
    job = send(admin, slug, status=["submitted"])
    assert job["state"] == "succeeded" and job["counts"]["sent"] == 120, job
    assert set(delivered(mturk_emulator).values()) == {1}

    more = workers(30, "A1MORE")
    slug = study(more)
    mturk_emulator.faults.fail_next("NotifyWorkers", "throttle", times=15)
    stopped = send(admin, slug, status=["submitted"])
    assert stopped["state"] == "failed" and stopped["error_code"] == "platform_unavailable"
    assert stopped["counts"]["unsent"] == 30 and stopped["counts"]["sent"] == 0
    message = only_message(admin, slug)
    pending = recipients(admin, slug, message["id"], state="pending")
    assert len(pending) == 30 and all(r["error"] for r in pending)

    resumed = send(admin, slug, status=["submitted"])
    assert resumed["state"] == "succeeded" and resumed["counts"]["sent"] == 30, resumed
    assert set(delivered(mturk_emulator)) == set(names) | set(more)
    assert set(delivered(mturk_emulator).values()) == {1}


@QUEUE
def test_cancel_mid_job_leaves_the_rest_unsent_and_a_resend_finishes_it(
    admin, study, app, db, clock, mturk_emulator
):
    names = workers(600)
    slug = study(names)
    started = send(admin, slug, status=["submitted"], subject="Hi", body="Thanks")
    assert started["state"] == "queued", started
    job_id = started["job_id"]
    mturk_emulator.faults.configure(latency_ms=500)
    runner = threading.Thread(
        target=jobs.run_job,
        args=(db, job_id),
        kwargs={"clock": clock, "connect": lambda p, m: client_for(app, p, m)},
    )
    runner.start()
    deadline = time.monotonic() + 30
    while admin.get(f"/jobs/{job_id}").json()["done"] < 100:
        assert time.monotonic() < deadline, "the job sent nothing"
        time.sleep(0.05)
    cancelling = admin.post(f"/jobs/{job_id}/cancel")
    assert cancelling.status_code == 200 and cancelling.json()["cancel_requested"] is True
    runner.join(30)
    assert not runner.is_alive()

    job = admin.get(f"/jobs/{job_id}").json()
    assert job["state"] == "cancelled", job
    sent = job["counts"]["sent"]
    assert 100 <= sent < 600 and sent % 100 == 0
    assert job["counts"]["unsent"] == 600 - sent
    assert sum(delivered(mturk_emulator).values()) == sent
    assert_error(admin.post(f"/jobs/{job_id}/cancel"), 409, "job_not_cancellable")

    mturk_emulator.faults.configure(latency_ms=0)
    resumed = send(admin, slug, status=["submitted"], subject="Hi", body="Thanks")
    final = run(app, db, clock, admin, resumed["job_id"])
    assert final["state"] == "succeeded"
    assert final["counts"]["sent"] == 600 - sent and final["total"] == 600 - sent
    reached = delivered(mturk_emulator)
    assert set(reached) == set(names) and set(reached.values()) == {1}


@QUEUE
def test_rows_a_stopped_runner_left_sending_are_settled_unclear_not_resent(
    admin, study, app, db, clock, mturk_emulator
):
    names = workers(150)
    slug = study(names)
    job_id = send(admin, slug, status=["submitted"])["job_id"]
    # A runner took the first 40 long ago and stopped during its call.
    with db.write() as session:
        taken = job_items.claim_batch(
            session,
            MessageRecipient,
            job_id,
            runner="gone:1",
            now=clock() - timedelta(hours=1),
            limit=40,
        )
    assert len(taken) == 40
    job = run(app, db, clock, admin, job_id)
    assert job["state"] == "succeeded"
    assert job["counts"]["unclear"] == 40 and job["counts"]["sent"] == 110, job
    assert set(delivered(mturk_emulator)) == set(names[40:])

    # A job that ended with rows still 'sending' hands them to no one: a resend settles them.
    second = send(admin, slug, status=["submitted"], subject="Second", body="Again")
    second = run(app, db, clock, admin, second["job_id"])
    assert second["counts"]["sent"] == 150
    with db.write() as session:
        message_id = session.scalar(select(Message.id).where(Message.subject == "Second"))
        ended = session.scalar(select(Job).where(Job.id == second["job_id"]))
        assert ended is not None and ended.state == "succeeded"
        rows = list(
            session.scalars(
                select(MessageRecipient)
                .where(MessageRecipient.message_id == message_id)
                .order_by(MessageRecipient.id)
                .limit(5)
            )
        )
        for row in rows:
            row.state, row.outcome = "sending", None
    third = send(admin, slug, status=["submitted"], subject="Second", body="Again")
    assert run(app, db, clock, admin, third["job_id"])["total"] == 0
    unclear = recipients(admin, slug, message_id, outcome="unclear")
    assert [r["worker_id"] for r in unclear] == names[:5]
    assert Counter(m.subject for m in mturk_emulator.state.messages)["Second"] == 150


def test_listing_messages_pages_by_cursor(admin, study):
    names = workers(3)
    slug = study(names)
    for number in range(3):
        send(admin, slug, worker_ids=names[: number + 1], subject=f"Note {number}")
    first = admin.get(f"/studies/{slug}/messages", params={"limit": 2}).json()
    assert [m["subject"] for m in first["items"]] == ["Note 0", "Note 1"]
    rest = admin.get(
        f"/studies/{slug}/messages", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [m["subject"] for m in rest["items"]] == ["Note 2"] and rest["next_cursor"] is None
    assert rest["items"][0]["counts"] == {"sent": 3}
    assert rest["items"][0]["body"] == "Your bonus is on its way."


def test_outcomes_from_the_platforms_answer():
    assert outcome_of(NotifyResult("A1", ok=True)) == ("sent", "sent")
    soft = NotifyResult("A1", ok=False, problem="later", platform_code="SoftFailure")
    assert outcome_of(soft) == ("failed", "soft_failure")
    hard = NotifyResult("A1", ok=False, problem="blocked", platform_code="HardFailure")
    assert outcome_of(hard) == ("failed", "hard_failure")
    lost = NotifyResult("A1", ok=False, problem="no answer (may have delivered)")
    assert outcome_of(lost) == ("failed", "unclear")
    not_sent = NotifyResult("A1", ok=False, problem="Not sent: an earlier call failed")
    assert outcome_of(not_sent) == ("pending", None)
    assert outcome_of(None) == ("failed", "unclear")


@QUEUE
def test_a_second_runner_helps_with_a_running_job_and_nobody_gets_it_twice(
    admin, study, app, db, clock, mturk_emulator
):
    names = workers(800)
    slug = study(names)
    job_id = send(admin, slug, status=["submitted"])["job_id"]
    mturk_emulator.faults.configure(latency_ms=150)

    def connect(platform: str, mode: str) -> Any:
        return client_for(app, platform, mode)

    owner = threading.Thread(
        target=jobs.run_job, args=(db, job_id), kwargs={"clock": clock, "connect": connect}
    )
    owner.start()
    deadline = time.monotonic() + 30
    while admin.get(f"/jobs/{job_id}").json()["state"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    helper = job_runner.JobRunner(db, clock, connect, name="helper:2")
    assert helper.run_once() == job_id
    owner.join(60)
    assert not owner.is_alive()

    job = admin.get(f"/jobs/{job_id}").json()
    assert job["state"] == "succeeded", job
    assert job["counts"]["sent"] == 800 and job["total"] == 800 and job["done"] == 800
    reached = delivered(mturk_emulator)
    assert set(reached) == set(names) and set(reached.values()) == {1}
    with db.read() as session:
        by_runner = Counter(
            session.scalars(
                select(MessageRecipient.claimed_by).where(MessageRecipient.job_id == job_id)
            )
        )
    assert set(by_runner) == {"request", "helper:2"}, by_runner
