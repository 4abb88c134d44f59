"""A study's own Prolific account (token and workspace), over HTTP, on both databases.

The service's own Prolific settings here name a token and a workspace the emulator
does not know, so whatever reaches the emulator did so with the study's account.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from crowdgate import create_app
from crowdgate.api.platform_access import close_clients
from crowdgate.config import InvalidSetting, from_environment
from crowdgate.db import Database
from crowdgate.domain.sealing import unseal
from crowdgate.models import Study
from crowdgate.testing import ProlificEmulator
from crowdgate_client import Client, ValidationError
from sqlalchemy import select

from tests.conftest import LiveServer
from tests.http import ApiClient
from tests.test_prolific_bonuses import PEOPLE, ProlificPaying, finished, paid, pay

SECRET_KEY = "a-long-enough-passphrase-for-tests"
OTHER_SECRET_KEY = "another-passphrase-not-the-first"
SERVICE_TOKEN = "the-service-token-prolific-refuses"
SERVICE_WORKSPACE = "f" * 24  # the emulator knows no such workspace


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_emulator: ProlificEmulator) -> dict[str, Any]:
    return {
        **app_config,
        # The wall clock: a bonus job waits for its pay to show.
        "CROWDGATE_CLOCK": None,
        "CROWDGATE_PROLIFIC_API_URL": prolific_emulator.api_url,
        "CROWDGATE_PROLIFIC_TOKEN": SERVICE_TOKEN,
        "CROWDGATE_PROLIFIC_WORKSPACE_ID": SERVICE_WORKSPACE,
        "CROWDGATE_PROLIFIC_MAX_ATTEMPTS": 2,
        "CROWDGATE_PROLIFIC_PAY_SETTLE_SECONDS": 1.5,
        "CROWDGATE_SECRET_KEY": SECRET_KEY,
    }


@contextmanager
def served(app_config: dict[str, Any], admin_key: str, **changes: Any) -> Iterator[ApiClient]:
    """The same database served by another app whose settings differ by ``changes``."""
    other = create_app({**app_config, **changes})
    live = LiveServer(other)
    try:
        with ApiClient(live.url, admin_key=admin_key) as api:
            yield api
    finally:
        live.stop()
        close_clients(other)
        other.extensions["crowdgate"].db.dispose()


def sealed_token(db: Database, slug: str) -> str | None:
    with db.read() as session:
        return session.scalars(select(Study.platform_token_sealed).where(Study.slug == slug)).one()


def create(admin: ApiClient, slug: str, **fields: Any) -> dict[str, Any]:
    response = admin.post(
        "/studies", json={"slug": slug, "platform": "prolific", "mode": "sandbox", **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def plan(admin: ApiClient, slug: str, people: list[str]) -> Any:
    items = [{"worker_id": p, "amount": "1.00", "reason": "Thanks"} for p in people]
    return admin.post(f"/studies/{slug}/bonuses", json={"items": items})


def synced_study(
    admin: ApiClient, emulator: ProlificEmulator, people: list[str], slug: str, **account: Any
) -> ProlificPaying:
    """A Prolific study with ``account`` whose participants came in by a sync."""
    seeded = emulator.seed_study(places=len(people), participants=people)
    study = create(admin, slug, hit_ids=[seeded.study_id], **account)
    started = admin.post(f"/studies/{slug}/sync")
    assert started.status_code == 202, started.text
    job = finished(admin, started.json()["job_id"])
    assert job["state"] == "succeeded" and job["counts"]["added"] == len(people), job
    return ProlificPaying(
        slug, seeded.study_id, people, list(seeded.submission_ids), study["survey_key"]
    )


def test_the_token_is_taken_sealed_and_never_shown(
    admin: ApiClient, anonymous: ApiClient, db: Database, prolific_emulator: ProlificEmulator
) -> None:
    token = prolific_emulator.token
    workspace = prolific_emulator.workspace_id
    created = admin.post(
        "/studies",
        json={
            "slug": "own",
            "platform": "prolific",
            "platform_token": f"  {token}\n",
            "platform_workspace_id": workspace,
        },
    )
    assert created.status_code == 201, created.text
    answers = [created]
    answers.append(admin.get("/studies/own"))
    answers.append(admin.get("/studies"))
    answers.append(admin.patch("/studies/own", json={"title": "Own account"}))
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
        assert token not in answer.text
        body = answer.json()
        study = body["items"][0] if "items" in body else body
        assert study["platform_token_set"] is True, study
        assert study["platform_workspace_id"] == workspace
        assert "platform_token" not in study and "platform_token_sealed" not in study

    # The spec offers the token for writing and shows only whether it is set.
    spec = anonymous.get("/swagger.json").json()
    schemas = spec.get("definitions") or spec["components"]["schemas"]
    assert "platform_token" in schemas["StudyCreate"]["properties"]
    assert "platform_token" in schemas["StudyUpdate"]["properties"]
    for shown in ("Study", "StudyCreated"):
        assert "platform_token" not in schemas[shown]["properties"]
        assert "platform_token_set" in schemas[shown]["properties"]

    sealed = sealed_token(db, "own")
    assert sealed is not None and token not in sealed
    assert unseal(SECRET_KEY, sealed) == token  # kept stripped of the spaces around it
    with pytest.raises(Exception, match="sealed_secret_unreadable|cannot be read"):
        unseal(OTHER_SECRET_KEY, sealed)


def test_null_clears_the_token_and_the_workspace_separately(
    admin: ApiClient, db: Database, prolific_emulator: ProlificEmulator
) -> None:
    create(
        admin,
        "own",
        platform_token=prolific_emulator.token,
        platform_workspace_id=prolific_emulator.workspace_id,
    )
    first = sealed_token(db, "own")
    # Set again, the token is sealed afresh.
    again = admin.patch("/studies/own", json={"platform_token": "another-token"})
    assert again.status_code == 200 and again.json()["platform_token_set"] is True
    second = sealed_token(db, "own")
    assert second is not None and second != first and unseal(SECRET_KEY, second) == "another-token"

    cleared = admin.patch("/studies/own", json={"platform_token": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["platform_token_set"] is False
    assert cleared.json()["platform_workspace_id"] == prolific_emulator.workspace_id
    assert sealed_token(db, "own") is None

    cleared = admin.patch("/studies/own", json={"platform_workspace_id": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["platform_workspace_id"] is None
    assert admin.get("/studies/own").json()["platform_token_set"] is False


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("platform_token", "", "between 1 and 500"),
        ("platform_token", " \n ", "blank"),
        ("platform_workspace_id", "a/b", "not a workspace id"),
    ],
)
def test_a_bad_token_or_workspace_is_named(
    admin: ApiClient, field: str, value: str, problem: str
) -> None:
    refused = admin.post("/studies", json={"slug": "bad", "platform": "prolific", field: value})
    assert refused.status_code == 422, refused.text
    assert problem in str(refused.json()["fields"][field]), refused.json()
    assert admin.get("/studies/bad").status_code == 404


def test_without_a_secret_key_no_token_is_taken(
    app_config: dict[str, Any], admin_key: str, db: Database, prolific_emulator: ProlificEmulator
) -> None:
    token = prolific_emulator.token
    with served(app_config, admin_key, CROWDGATE_SECRET_KEY=None) as admin:
        refused = admin.post(
            "/studies", json={"slug": "own", "platform": "prolific", "platform_token": token}
        )
        assert refused.status_code == 409, refused.text
        error = refused.json()
        assert error["error"] == "secret_key_not_set" and "platform_token" in error["fields"]
        assert "CROWDGATE_SECRET_KEY" in error["message"] and token not in refused.text
        assert admin.get("/studies/own").status_code == 404

        # A workspace alone needs no key; a token added later is refused just the same.
        study = create(admin, "own", platform_workspace_id=prolific_emulator.workspace_id)
        assert study["platform_token_set"] is False
        refused = admin.patch("/studies/own", json={"platform_token": token, "title": "New"})
        assert refused.status_code == 409 and refused.json()["error"] == "secret_key_not_set"
        unchanged = admin.get("/studies/own").json()
        assert unchanged["platform_token_set"] is False and unchanged["title"] != "New"
        assert sealed_token(db, "own") is None
        # Clearing needs no key.
        assert admin.patch("/studies/own", json={"platform_token": None}).status_code == 200


@pytest.mark.parametrize("platform", ["mturk", "none"])
@pytest.mark.parametrize("field", ["platform_token", "platform_workspace_id"])
def test_platforms_without_study_accounts_refuse_them(
    admin: ApiClient, db: Database, platform: str, field: str
) -> None:
    value = "abcdef0123456789abcdef01"
    refused = admin.post("/studies", json={"slug": "s", "platform": platform, field: value})
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["fields"], refused.json()
    assert admin.get("/studies/s").status_code == 404

    assert admin.post("/studies", json={"slug": "s", "platform": platform}).status_code == 201
    refused = admin.patch("/studies/s", json={field: value})
    assert refused.status_code == 422 and field in refused.json()["fields"], refused.text
    shown = admin.get("/studies/s").json()
    assert shown["platform_token_set"] is False and shown["platform_workspace_id"] is None

    # A Prolific study cannot move to the platform while it holds an account...
    create(admin, "p", **{field: value})
    refused = admin.patch("/studies/p", json={"platform": platform})
    assert refused.status_code == 422 and field in refused.json()["fields"], refused.text
    # ...and can once the account is cleared in the same change.
    moved = admin.patch("/studies/p", json={"platform": platform, field: None})
    assert moved.status_code == 200 and moved.json()["platform"] == platform, moved.text
    assert sealed_token(db, "p") is None


def test_a_study_with_its_own_token_syncs_and_pays_where_others_are_refused(
    admin: ApiClient, prolific_emulator: ProlificEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = prolific_emulator.token
    prolific_emulator.set_balance("4321.00")
    own = synced_study(
        admin,
        prolific_emulator,
        PEOPLE[:5],
        "own",
        platform_token=token,
        platform_workspace_id=prolific_emulator.workspace_id,
    )
    shown = plan(admin, "own", PEOPLE[:5])
    assert shown.status_code == 200, shown.text
    assert shown.json()["balance"] == "4321.00" and shown.json()["currency"] == "GBP"
    job = pay(admin, own.slug, own.items())
    assert job["state"] == "succeeded" and job["done"] == 5, job
    assert paid(prolific_emulator) == own.expected()

    # A study on the service's account reaches the emulator with the service's token,
    # which it refuses: in the sync job, and in the bonus plan.
    seeded = prolific_emulator.seed_study(places=2, participants=PEOPLE[10:12])
    create(admin, "service", hit_ids=[seeded.study_id])
    started = admin.post("/studies/service/sync")
    assert started.status_code == 202, started.text
    job = finished(admin, started.json()["job_id"])
    assert job["state"] == "failed", job
    assert "Invalid token" in job["error"], job
    refused = plan(admin, "service", PEOPLE[10:12])
    assert refused.status_code == 502, refused.text
    assert refused.json()["error"] == "platform_credentials_rejected"
    assert paid(prolific_emulator) == own.expected()

    assert caplog.records
    assert token not in caplog.text


def test_the_plan_shows_the_balance_of_the_studys_workspace(
    admin: ApiClient, prolific_emulator: ProlificEmulator
) -> None:
    prolific_emulator.set_balance("987.65")
    synced_study(
        admin, prolific_emulator, PEOPLE[:2], "own", platform_token=prolific_emulator.token
    )
    # The token alone: the balance is asked of the service's workspace, unknown there.
    unknown = plan(admin, "own", PEOPLE[:2])
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["error"] == "platform_rejected"
    assert SERVICE_WORKSPACE in unknown.json()["message"]

    changed = admin.patch(
        "/studies/own", json={"platform_workspace_id": prolific_emulator.workspace_id}
    )
    assert changed.status_code == 200, changed.text
    shown = plan(admin, "own", PEOPLE[:2])
    assert shown.status_code == 200, shown.text
    assert shown.json()["balance"] == "987.65"


def test_a_token_sealed_under_another_key_is_refused_until_set_again(
    app_config: dict[str, Any],
    admin: ApiClient,
    admin_key: str,
    prolific_emulator: ProlificEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = prolific_emulator.token
    synced_study(
        admin,
        prolific_emulator,
        PEOPLE[:2],
        "own",
        platform_token=token,
        platform_workspace_id=prolific_emulator.workspace_id,
    )
    with served(app_config, admin_key, CROWDGATE_SECRET_KEY=OTHER_SECRET_KEY) as other:
        for refused in (plan(other, "own", PEOPLE[:2]), other.post("/studies/own/sync")):
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"] == "sealed_secret_unreadable", refused.text
        # The study still says a token is set: it is, though unreadable here.
        assert other.get("/studies/own").json()["platform_token_set"] is True

        assert other.patch("/studies/own", json={"platform_token": token}).status_code == 200
        assert plan(other, "own", PEOPLE[:2]).status_code == 200
    # Sealed again under the other key, the token is now unreadable to the first.
    refused = plan(admin, "own", PEOPLE[:2])
    assert refused.status_code == 409 and refused.json()["error"] == "sealed_secret_unreadable"

    with served(app_config, admin_key, CROWDGATE_SECRET_KEY=None) as keyless:
        refused = plan(keyless, "own", PEOPLE[:2])
        assert refused.status_code == 409 and refused.json()["error"] == "secret_key_not_set"
    assert token not in caplog.text


def test_the_sdk_sets_and_clears_the_account(
    server: LiveServer, admin_key: str, db: Database, prolific_emulator: ProlificEmulator
) -> None:
    token = prolific_emulator.token
    workspace = prolific_emulator.workspace_id
    with Client(server.url, admin_key) as client:
        created = client.create_study(
            "own", platform="prolific", platform_token=token, platform_workspace_id=workspace
        )
        assert created.platform_token_set is True and created.platform_workspace_id == workspace
        assert token not in repr(created) and token not in repr(created.extra)
        assert unseal(SECRET_KEY, sealed_token(db, "own") or "") == token

        cleared = client.update_study("own", platform_token="")
        assert cleared.platform_token_set is False and cleared.platform_workspace_id == workspace
        cleared = client.update_study("own", platform_workspace_id="")
        assert cleared.platform_workspace_id is None
        assert sealed_token(db, "own") is None

        again = client.update_study("own", platform_token=token)
        assert again.platform_token_set is True
        assert client.get_study("own").platform_token_set is True

        with pytest.raises(ValidationError) as refused:
            client.update_study("own", platform="none")
        assert refused.value.status == 422 and "platform_token" in refused.value.fields


def test_a_short_secret_key_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting) as refused:
        from_environment({"CROWDGATE_SECRET_KEY": "too-short"})
    assert "CROWDGATE_SECRET_KEY" in str(refused.value)
    assert "too-short" not in str(refused.value)
    assert from_environment({"CROWDGATE_SECRET_KEY": "x" * 16}) == {
        "CROWDGATE_SECRET_KEY": "x" * 16
    }

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CROWDGATE_")},
        "CROWDGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'crowdgate.db'}",
        "CROWDGATE_SECRET_KEY": "too-short",
    }
    done = subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "CROWDGATE_SECRET_KEY" in done.stderr and "Traceback" not in done.stderr
    assert "too-short" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def started_study(
    admin: ApiClient, emulator: ProlificEmulator, people: list[str], slug: str, **account: Any
) -> None:
    """A Prolific study whose participants started through /start with Prolific's URL
    parameters (so a message can reach them)."""
    seeded = emulator.seed_study(places=len(people), participants=people, statuses="ACTIVE")
    study = create(admin, slug, hit_ids=[seeded.study_id], **account)
    page = ApiClient(admin.base_url, survey_key=study["survey_key"])
    for worker, submission in zip(people, seeded.submission_ids, strict=True):
        started = page.get(
            f"/studies/{slug}/participants/{worker}/start",
            params={"PROLIFIC_PID": worker, "STUDY_ID": seeded.study_id, "SESSION_ID": submission},
        )
        assert started.status_code == 200, started.text


def job_of(admin: ApiClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.post(path, json=body)
    assert response.status_code == 202, response.text
    return finished(admin, response.json()["job_id"])


def test_message_jobs_use_the_studys_token(
    admin: ApiClient, prolific_emulator: ProlificEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = prolific_emulator.token
    started_study(admin, prolific_emulator, PEOPLE[:3], "own", platform_token=token)
    started_study(admin, prolific_emulator, PEOPLE[3:5], "service")
    message = {"subject": "Thank you", "body": "Thanks.", "status": ["started"], "dry_run": False}

    sent = job_of(admin, "/studies/own/messages", message)
    assert sent["state"] == "succeeded" and sent["done"] == 3, sent
    assert sorted(m.recipient_id for m in prolific_emulator.state.messages) == PEOPLE[:3]

    refused = job_of(admin, "/studies/service/messages", message)
    # A refused token ends the job at once (no retries), saying so; nobody was sent it.
    assert refused["state"] == "failed" and refused["counts"]["unsent"] == 2, refused
    assert "Invalid token" in refused["error"], refused
    [sent_row] = admin.get("/studies/service/messages").json()["items"]
    rows = admin.get(f"/studies/service/messages/{sent_row['id']}/recipients").json()["items"]
    assert len(rows) == 2 and {row["state"] for row in rows} == {"pending"}, rows
    assert sorted(m.recipient_id for m in prolific_emulator.state.messages) == PEOPLE[:3]
    assert token not in caplog.text


def test_a_review_job_uses_the_token_until_it_is_cleared(
    admin: ApiClient, prolific_emulator: ProlificEmulator
) -> None:
    token = prolific_emulator.token
    study = create(admin, "own", platform_token=token)
    page = ApiClient(admin.base_url, survey_key=study["survey_key"])
    codes = []
    for worker in PEOPLE[:2]:
        assert page.post(f"/studies/own/participants/{worker}/start").status_code == 200
        done = page.post(f"/studies/own/participants/{worker}/complete")
        assert done.status_code == 200, done.text
        codes.append(done.json()["completion_code"])
    seeded = prolific_emulator.seed_study(places=2, participants=PEOPLE[:2], study_codes=codes)
    assert admin.patch("/studies/own", json={"hit_ids": [seeded.study_id]}).status_code == 200
    assert finished(admin, admin.post("/studies/own/sync").json()["job_id"])["state"] == "succeeded"

    # Back on the service's account, the review reaches Prolific with a refused token.
    assert admin.patch("/studies/own", json={"platform_token": None}).status_code == 200
    refused = job_of(admin, "/studies/own/review", {"dry_run": False})
    assert refused["state"] == "failed" and "Invalid token" in refused["error"], refused
    statuses = {s.status for s in prolific_emulator.state.submissions.values()}
    assert statuses == {"AWAITING REVIEW"}

    assert admin.patch("/studies/own", json={"platform_token": token}).status_code == 200
    approved = job_of(admin, "/studies/own/review", {"dry_run": False})
    assert approved["state"] == "succeeded" and approved["counts"]["approved"] == 2, approved
    statuses = {s.status for s in prolific_emulator.state.submissions.values()}
    assert statuses == {"APPROVED"}
