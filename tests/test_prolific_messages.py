"""Messages to a Prolific study's participants, against the Prolific emulator over HTTP, on
both databases: one bulk message per Prolific study a participant took part in (their
STUDY_ID at /start), the subject on the body's first line, through the API, the SDK and
the CLI; a call that may have delivered is never repeated, a throttled one is; a
participant with no study recorded fails alone and is reached once it is recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crowdgate.models import Participant, Study
from crowdgate.testing import ProlificEmulator
from crowdgate_client import Client, ValidationError
from sqlalchemy import select

from tests.http import ApiClient, assert_error
from tests.prolific_fixtures import prolific_settings
from tests.test_cli_researcher import assert_one_line_error
from tests.test_cli_researcher import run as run_cli

PEOPLE = [f"{n:024x}" for n in range(0xB1, 0xB9)]
SUBJECT = "Thank you"
BODY = "Your bonus is on its way."
#: What Prolific shows the participant: it has no subject, so crowdgate puts it first.
SHOWN = f"{SUBJECT}\n\n{BODY}"


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_env: ProlificEmulator) -> dict[str, Any]:
    return {
        **app_config,
        **prolific_settings(prolific_env, max_attempts=4),
    }


@pytest.fixture
def prolific_study(make_study: Any, prolific_emulator: ProlificEmulator) -> Any:
    """A sandbox Prolific study whose participants came in through /start with Prolific's
    URL parameters, from one or more Prolific studies; its slug and page client."""

    def make(*launches: list[str]) -> tuple[str, list[str], ApiClient]:
        study, page = make_study(platform="prolific", mode="sandbox")
        slug = str(study["slug"])
        study_ids = []
        for people in launches:
            seeded = prolific_emulator.seed_study(
                places=len(people), participants=people, statuses="ACTIVE"
            )
            study_ids.append(seeded.study_id)
            for worker, submission in zip(people, seeded.submission_ids, strict=True):
                start(page, slug, worker, STUDY_ID=seeded.study_id, SESSION_ID=submission)
        return slug, study_ids, page

    return make


def start(page: ApiClient, slug: str, worker: str, **params: str) -> None:
    started = page.get(
        f"/studies/{slug}/participants/{worker}/start", params={"PROLIFIC_PID": worker, **params}
    )
    assert started.status_code == 200, started.text


def send(admin: ApiClient, slug: str, **body: Any) -> dict[str, Any]:
    request = {"subject": SUBJECT, "body": BODY, "status": ["started"], **body}
    response = admin.post(f"/studies/{slug}/messages", json={**request, "dry_run": False})
    assert response.status_code == 202, response.text
    return response.json()["job"]  # type: ignore[no-any-return]


def plan(admin: ApiClient, slug: str, **body: Any) -> dict[str, Any]:
    request = {"subject": SUBJECT, "body": BODY, "status": ["started"], **body}
    response = admin.post(f"/studies/{slug}/messages", json=request)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def received(emulator: ProlificEmulator) -> Counter[tuple[str, str, str]]:
    """Each (participant, Prolific study, text) the emulator took a bulk message for."""
    return Counter((m.recipient_id, m.study_id, m.body) for m in emulator.state.messages)


def recipients(admin: ApiClient, slug: str, **params: Any) -> dict[str, dict[str, Any]]:
    [message] = admin.get(f"/studies/{slug}/messages").json()["items"]
    page = admin.get(
        f"/studies/{slug}/messages/{message['id']}/recipients", params={"limit": 100, **params}
    )
    assert page.status_code == 200, page.text
    return {row["worker_id"]: row for row in page.json()["items"]}


def test_plan_then_send_messages_each_participant_once_about_their_study(
    admin: ApiClient, prolific_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    first, relaunch = PEOPLE[:3], PEOPLE[3:5]
    slug, (study_a, study_b), _ = prolific_study(first, relaunch)

    planned = plan(admin, slug)
    assert planned["count"] == 5 and planned["recipients"] == [*first, *relaunch]
    assert prolific_emulator.state.messages == []
    assert prolific_emulator.faults.calls["BulkMessage"] == 0

    job = send(admin, slug)
    assert job["state"] == "succeeded", job
    assert job["counts"] == {
        "sent": 5,
        "soft_failure": 0,
        "hard_failure": 0,
        "unclear": 0,
        "unsent": 0,
    }
    # One call per Prolific study, each about its own participants.
    assert prolific_emulator.faults.calls["BulkMessage"] == 2
    assert received(prolific_emulator) == Counter(
        [(w, study_a, SHOWN) for w in first] + [(w, study_b, SHOWN) for w in relaunch]
    )
    assert all(m.bulk for m in prolific_emulator.state.messages)
    rows = recipients(admin, slug)
    assert all(r["outcome"] == "sent" and r["attempts"] == 1 for r in rows.values())

    # The same words again reach nobody twice.
    again = send(admin, slug)
    assert again["state"] == "succeeded" and again["total"] == 0, again
    assert prolific_emulator.faults.calls["BulkMessage"] == 2
    assert plan(admin, slug)["already_sent"] == 5


def test_a_worker_with_several_attempts_is_messaged_about_their_latest_study(
    admin: ApiClient,
    make_study: Any,
    prolific_emulator: ProlificEmulator,
    db: Any,
    clock: Any,
) -> None:
    worker, other = PEOPLE[0], PEOPLE[1]
    older = prolific_emulator.seed_study(places=2, participants=[worker, other]).study_id
    newer = prolific_emulator.seed_study(places=1, participants=[worker]).study_id
    study, _ = make_study(platform="prolific", mode="sandbox")
    # A repeat whose latest row has no study recorded keeps the one before it.
    attempts = [(worker, 1, older), (worker, 2, newer), (worker, 3, None), (other, 1, older)]
    with db.write() as session:
        study_id = session.scalar(select(Study.id).where(Study.slug == study["slug"]))
        session.add_all(
            [
                Participant(
                    study_id=study_id,
                    worker_id=name,
                    attempt=attempt,
                    hit_id=hit_id,
                    status="submitted",
                    state={},
                    extra_submissions=[],
                    started_at=clock(),
                    updated_at=clock(),
                )
                for name, attempt, hit_id in attempts
            ]
        )

    job = send(admin, study["slug"], status=["submitted"])
    assert job["state"] == "succeeded" and job["counts"]["sent"] == 2, job
    assert received(prolific_emulator) == Counter([(worker, newer, SHOWN), (other, older, SHOWN)])


def test_a_participant_without_a_study_fails_alone_and_is_reached_once_recorded(
    admin: ApiClient,
    prolific_study: Any,
    prolific_emulator: ProlificEmulator,
) -> None:
    slug, [study_id], page = prolific_study(PEOPLE[:3])
    # A page that forgot STUDY_ID: crowdgate knows the participant, not their study.
    lost = PEOPLE[3]
    seeded = prolific_emulator.seed_study(places=1, participants=[lost])
    start(page, slug, lost)

    job = send(admin, slug)
    assert job["state"] == "succeeded", job
    assert job["counts"]["sent"] == 3 and job["counts"]["hard_failure"] == 1, job
    assert received(prolific_emulator) == Counter((w, study_id, SHOWN) for w in PEOPLE[:3])
    failed = recipients(admin, slug, state="failed")
    assert list(failed) == [lost]
    assert failed[lost]["outcome"] == "hard_failure"
    assert failed[lost]["platform_code"] == "no_posting"
    assert "posting_id" in failed[lost]["error"] and "Nothing was sent" in failed[lost]["error"]

    # Nothing went out, so the same message is planned for them again...
    again = plan(admin, slug)
    assert again["recipients"] == [lost] and again["already_sent"] == 3
    # ...and once a sync records their study, it reaches them, once.
    linked = admin.patch(f"/studies/{slug}", json={"hit_ids": [study_id, seeded.study_id]})
    assert linked.status_code == 200, linked.text
    synced = admin.post(f"/studies/{slug}/sync", json={})
    assert synced.status_code == 202 and synced.json()["state"] == "succeeded", synced.text
    everyone = ["started", "submitted"]  # the sync moved them on to submitted
    resent = send(admin, slug, status=everyone)
    assert resent["state"] == "succeeded" and resent["counts"]["sent"] == 1, resent
    assert received(prolific_emulator) == Counter(
        [(w, study_id, SHOWN) for w in PEOPLE[:3]] + [(lost, seeded.study_id, SHOWN)]
    )
    [message] = admin.get(f"/studies/{slug}/messages").json()["items"]
    assert message["counts"] == {"sent": 4}
    assert send(admin, slug, status=everyone)["total"] == 0


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_a_message_that_may_have_gone_out_is_unclear_and_never_resent(
    admin: ApiClient, prolific_study: Any, prolific_emulator: ProlificEmulator, fault: str
) -> None:
    first, relaunch = PEOPLE[:3], PEOPLE[3:6]
    slug, (study_a, study_b), _ = prolific_study(first, relaunch)
    # Prolific takes the first call and its answer is lost.
    prolific_emulator.faults.fail_next("BulkMessage", fault)

    job = send(admin, slug)
    assert job["state"] == "succeeded", job
    assert job["counts"]["unclear"] == 3 and job["counts"]["sent"] == 3, job
    assert prolific_emulator.faults.calls["BulkMessage"] == 2  # the lost one is not repeated
    assert prolific_emulator.faults.committed["BulkMessage"] == 2
    unclear = recipients(admin, slug, outcome="unclear")
    assert sorted(unclear) == sorted(first)
    assert all("may have delivered" in r["error"] for r in unclear.values())

    again = send(admin, slug)
    assert again["total"] == 0, again
    assert prolific_emulator.faults.calls["BulkMessage"] == 2
    assert plan(admin, slug)["already_failed"] == 3
    assert received(prolific_emulator) == Counter(
        [(w, study_a, SHOWN) for w in first] + [(w, study_b, SHOWN) for w in relaunch]
    )


def test_a_throttled_message_is_sent_again_after_retry_after_and_delivered_once(
    admin: ApiClient, prolific_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    slug, [study_id], _ = prolific_study(PEOPLE[:3])
    prolific_emulator.faults.fail_next("BulkMessage", "throttle")  # 429, Retry-After: 1

    job = send(admin, slug)
    assert job["state"] == "succeeded" and job["counts"]["sent"] == 3, job
    assert prolific_emulator.faults.calls["BulkMessage"] == 2
    assert prolific_emulator.faults.committed["BulkMessage"] == 1
    assert received(prolific_emulator) == Counter((w, study_id, SHOWN) for w in PEOPLE[:3])


def test_a_refused_study_is_retried_without_holding_back_the_others(
    admin: ApiClient, prolific_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    slug, [study_id], page = prolific_study(PEOPLE[:2])
    # A participant whose STUDY_ID Prolific does not know: every call about it is a 404.
    stray = PEOPLE[2]
    prolific_emulator.seed_participants([stray])
    start(page, slug, stray, STUDY_ID="6700000000000000000000ff")

    job = send(admin, slug)
    assert job["state"] == "failed" and job["error_code"] == "platform_unavailable", job
    assert job["counts"]["sent"] == 2 and job["counts"]["unsent"] == 1, job
    # Refused outright, nothing was sent: after the batch it shared with the others, it
    # was tried again alone, five times in a row, before the job gave up.
    assert prolific_emulator.faults.calls["BulkMessage"] == 2 + 5
    assert received(prolific_emulator) == Counter((w, study_id, SHOWN) for w in PEOPLE[:2])
    pending = recipients(admin, slug, state="pending")
    assert list(pending) == [stray] and "404" in pending[stray]["error"]


def test_prolific_limits_are_checked_before_any_job(
    admin: ApiClient, prolific_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    slug, _, _ = prolific_study(PEOPLE[:2])
    url = f"/studies/{slug}/messages"
    base = {"subject": SUBJECT, "body": BODY, "status": ["started"]}
    for dry_run in (True, False):
        too_long = admin.post(url, json={**base, "subject": "x" * 201, "dry_run": dry_run})
        body = assert_error(too_long, 422, "validation_error", "subject")
        assert "200" in body["message"]
        longer = admin.post(url, json={**base, "body": "x" * 10001, "dry_run": dry_run})
        assert_error(longer, 422, "validation_error", "body")
    assert admin.get(url).json()["items"] == []
    assert prolific_emulator.faults.calls["BulkMessage"] == 0

    # Prolific's own limits, not MTurk's (a 4,096-character body).
    job = send(admin, slug, subject="s" * 200, body="b" * 10000)
    assert job["state"] == "succeeded" and job["counts"]["sent"] == 2, job
    assert {m.body for m in prolific_emulator.state.messages} == {"s" * 200 + "\n\n" + "b" * 10000}


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


def test_sdk_plans_and_sends_to_prolific_participants(
    sdk: Client, prolific_study: Any, prolific_emulator: ProlificEmulator
) -> None:
    slug, [study_id], _ = prolific_study(PEOPLE[:3])
    planned = sdk.messages.plan(slug, SUBJECT, BODY, status="started")
    assert planned.count == 3 and planned.recipients == tuple(PEOPLE[:3])
    assert prolific_emulator.state.messages == []

    job = sdk.messages.send(slug, SUBJECT, BODY, worker_ids=PEOPLE[:2])
    assert job.state == "succeeded" and job.counts["sent"] == 2, job
    rest = sdk.messages.send(slug, SUBJECT, BODY, status="started")
    assert rest.state == "succeeded" and rest.counts["sent"] == 1, rest
    assert received(prolific_emulator) == Counter((w, study_id, SHOWN) for w in PEOPLE[:3])

    with pytest.raises(ValidationError) as refused:
        sdk.messages.plan(slug, "x" * 201, BODY, status="started")
    assert "subject" in refused.value.fields


def test_cli_sends_to_prolific_participants(
    server: Any,
    admin_key: str,
    tmp_path: Path,
    prolific_study: Any,
    prolific_emulator: ProlificEmulator,
) -> None:
    env = {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key, "COLUMNS": "200"}
    slug, [study_id], _ = prolific_study(PEOPLE[:2])
    args = ("message", "send", slug, "--subject", SUBJECT, "--body", BODY, "--status", "started")

    planned = run_cli(*args, "--dry-run", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert PEOPLE[0] in planned.stdout and prolific_emulator.state.messages == []

    sent = run_cli(*args, "--yes", "--json", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert '"sent": 2' in sent.stdout
    assert received(prolific_emulator) == Counter((w, study_id, SHOWN) for w in PEOPLE[:2])

    too_long = run_cli(*args[:4], "x" * 201, *args[5:], env=env, cwd=tmp_path)
    assert_one_line_error(too_long, 1, "subject")
    assert len(prolific_emulator.state.messages) == 2
