"""`crowdgate exclusions ...` as a researcher runs it: subprocesses talking HTTP to a live
server, which reads HITs from and syncs qualifications to the MTurk emulator."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.http import ApiClient
from tests.test_cli_researcher import assert_one_line_error, run

# The commands reach the service over HTTP; the database behind it is another test's concern.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

QUAL_NAME = "crowdgate-deception-record"
HASH_KEY = "a lab's shared secret"


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
        "CROWDGATE_ID_HASH_KEY": HASH_KEY,
    }


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


@pytest.fixture
def cg(env: dict[str, str], tmp_path: Path) -> Any:
    """Run `crowdgate exclusions ...` with the service's URL and key in the environment."""

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run("exclusions", *args, env=env, cwd=tmp_path, **kwargs)

    return call


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result


def fields(stdout: str) -> dict[str, str]:
    """A 'field value' table as a dict (names may hold one space; columns are two apart)."""
    lines = stdout.splitlines()
    assert lines[0].split() == ["field", "value"], stdout
    found = {}
    for line in lines[1:]:
        name, _, value = line.strip().partition("  ")
        found[name] = value.strip()
    return found


def worker(n: int) -> str:
    return f"A{n:013d}"


def granted(emulator: MTurkEmulator, type_id: str) -> set[str]:
    return {
        w
        for (t, w), grant in emulator.state.grants.items()
        if t == type_id and grant.status == "Granted"
    }


@pytest.fixture
def seed(mturk_emulator: MTurkEmulator) -> dict[str, Any]:
    """Two HITs of four workers each, one worker on both; three more known workers."""
    first = mturk_emulator.seed_hit(assignments=4, workers=[worker(n) for n in range(4)])
    second = mturk_emulator.seed_hit(assignments=4, workers=[worker(n) for n in range(3, 7)])
    listed = [worker(n) for n in (20, 21, 22)]
    mturk_emulator.seed_workers(listed)
    return {"hits": [first.hit_id, second.hit_id], "listed": listed}


def test_put_show_list_and_delete(cg: Any, make_study: Any, mturk_emulator: MTurkEmulator):
    study, _ = make_study()
    created = ok(
        cg(
            "put", "deception", "--description", "Saw a deception study",
            "--qualification-name", QUAL_NAME, "--mode", "sandbox",
            "--record-study", study["slug"], "--record-when", "completed",
        )
    )  # fmt: skip
    assert "created deception" in created.stderr
    shown = fields(created.stdout)
    assert shown["name"] == "deception" and shown["members"] == "0"
    assert shown["records studies"] == study["slug"] and shown["records when"] == "completed"
    assert shown["qualification name"] == QUAL_NAME and shown["mode"] == "sandbox"
    (type_id,) = mturk_emulator.state.qualification_types
    assert shown["qualification"] == type_id

    again = ok(cg("put", "deception", "--no-record-studies", "--json"))
    body = json.loads(again.stdout)
    assert body["record_studies"] == [] and body["created"] is False
    assert body["binding"]["qualification_type_id"] == type_id  # not given: kept
    assert "created" not in again.stderr

    ok(cg("put", "other"))
    listed = ok(cg("list"))
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:2] == ["name", "members"]
    assert [row.split()[0] for row in rows] == ["deception", "other"]

    # Deleting asks first; without an answer nothing happens.
    asked = cg("delete", "other", input="")
    assert asked.returncode == 1 and "Aborted" in asked.stderr
    as_json = [json.loads(line) for line in ok(cg("list", "--json")).stdout.splitlines()]
    assert [(g["name"], g["binding"]) for g in as_json][1] == ("other", None)
    assert "deleted other" in ok(cg("delete", "other", "--yes")).stderr
    assert_one_line_error(cg("show", "other"), 1, "No exclusion group is named 'other'")


def test_a_group_a_study_uses_is_not_deleted(cg: Any, make_study: Any):
    ok(cg("put", "deception"))
    study, _ = make_study(exclusion_groups=["deception"])
    refused = cg("delete", "deception", "--yes")
    assert_one_line_error(refused, 1, study["slug"], "exclusion_groups")
    assert json.loads(ok(cg("show", "deception", "--json")).stdout)["excluding_studies"] == [
        study["slug"]
    ]


BATCH = (
    '"HITId","AssignmentId","WorkerId","AssignmentStatus","Answer.surveycode"\n'
    '"3HIT","3ASG1","AWORKERBATCH01","Submitted","c1"\n'
    '"3HIT","3ASG2","AWORKERBATCH02","Submitted","c2"\n'
)


def test_add_hits_workers_and_a_file_then_remove(
    cg: Any, seed: dict[str, Any], tmp_path: Path
) -> None:
    ok(cg("put", "deception", "--qualification-name", QUAL_NAME, "--mode", "sandbox"))
    (tmp_path / "batch.csv").write_text(BATCH, encoding="utf-8")
    kept = seed["listed"][0]
    result = ok(
        cg(
            "add", "deception", "--hit", seed["hits"][0], "--hit", seed["hits"][1],
            *(arg for w in seed["listed"] for arg in ("--worker", w)),
            "--remove-worker", kept, "--file", "batch.csv",
        )
    )  # fmt: skip
    lines = result.stdout.splitlines()
    # Seven distinct HIT workers plus three listed; the one both added and removed stays.
    assert lines[0] == "listed workers and HITs: 10 added, 1 kept; the group has 10 members"
    assert lines[1:3] == [
        f"  HIT {seed['hits'][0]}: 4 workers",
        f"  HIT {seed['hits'][1]}: 4 workers",
    ]
    assert lines[3].split() == ["kept", "worker", "why", "member", "by"]
    assert lines[4].split() == [kept, "added", "in", "this", "request", "workers"]
    assert lines[5] == (
        "batch.csv (2 workers, column 'WorkerId'): 2 added; the group has 12 members"
    )

    removed = ok(cg("remove", "deception", "--hit", seed["hits"][0], "--hit", "3NOSUCHHIT"))
    assert removed.stdout.splitlines()[0] == (
        "listed workers and HITs: 3 removed, 1 kept; the group has 9 members"
    )
    assert "other sources" in removed.stdout
    assert "No member came from HIT(s): 3NOSUCHHIT" in removed.stderr

    as_json = ok(cg("remove", "deception", "--worker", "AWORKERBATCH01", "--json"))
    (change,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert (change["removed"], change["members"]) == (1, 8)

    nothing = cg("add", "deception")
    assert nothing.returncode == 2 and "give --worker, --hit or --file" in nothing.stderr
    unreadable = cg("add", "deception", "--hit", "3NOSUCHHITEXAMPLE")
    assert_one_line_error(unreadable, 1, "3NOSUCHHITEXAMPLE cannot be read", "add_hit_ids")


def test_upload_members_and_export(cg: Any, admin: ApiClient, tmp_path: Path) -> None:
    ok(cg("put", "g"))
    (tmp_path / "batch.csv").write_text(BATCH, encoding="utf-8")
    (tmp_path / "plain.txt").write_text("ANEW01\nAWORKERBATCH01\n", encoding="utf-8")
    first = ok(cg("upload", "g", "batch.csv"))
    assert first.stdout.startswith("batch.csv (2 workers, column 'WorkerId'): 2 added;")
    second = ok(cg("upload", "g", "plain.txt", "--json"))
    body = json.loads(second.stdout)
    assert (body["added"], body["already_members"], body["members"]) == (1, 1, 3)
    assert body["file"] == {"name": "plain.txt", "read_from": "a plain list", "workers": 2}

    table = ok(cg("members", "g"))
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["worker", "first", "added", "sources"]
    assert [r.split()[0] for r in rows] == ["ANEW01", "AWORKERBATCH01", "AWORKERBATCH02"]
    assert rows[1].endswith("file:batch.csv, file:plain.txt")
    assert "3 members" in table.stderr
    as_json = [json.loads(line) for line in ok(cg("members", "g", "--json")).stdout.splitlines()]
    assert [m["worker_id"] for m in as_json] == ["ANEW01", "AWORKERBATCH01", "AWORKERBATCH02"]
    assert as_json[0]["sources"][0]["source"] == "file:plain.txt"

    exported = ok(cg("export", "g", "-o", "g.csv"))
    assert "wrote" in exported.stderr
    rows_out = list(csv.DictReader((tmp_path / "g.csv").read_text(encoding="utf-8").splitlines()))
    assert [r["worker_id"] for r in rows_out] == ["ANEW01", "AWORKERBATCH01", "AWORKERBATCH02"]
    assert rows_out[1]["sources"] == "file:batch.csv;file:plain.txt"

    hashed = ok(cg("export", "g", "--hash-ids"))
    values = [r["worker_id"] for r in csv.DictReader(hashed.stdout.splitlines())]
    digest = hmac.new(HASH_KEY.encode(), b"ANEW01", hashlib.sha256).hexdigest()
    assert digest in values and "ANEW01" not in hashed.stdout
    hashed_list = ok(cg("members", "g", "--hash-ids", "--json")).stdout
    assert digest in hashed_list and "ANEW01" not in hashed_list

    removed = ok(cg("upload", "g", "batch.csv", "--remove"))
    assert "2 removed; the group has 1 member\n" in removed.stdout
    assert_one_line_error(cg("export", "g", "--json"), 2, "writes CSV")


def test_sync_dry_run_then_apply_then_revoke(
    cg: Any, seed: dict[str, Any], mturk_emulator: MTurkEmulator
) -> None:
    ok(cg("put", "g", "--qualification-name", QUAL_NAME, "--mode", "sandbox"))
    (type_id,) = mturk_emulator.state.qualification_types
    ok(cg("add", "g", *(arg for w in seed["listed"] for arg in ("--worker", w))))

    dry = ok(cg("sync", "g"))
    plan = fields(dry.stdout)
    assert (plan["members"], plan["holders now"], plan["to grant"], plan["to revoke"]) == (
        "3",
        "0",
        "3",
        "0",
    )
    assert "A dry run only: add --apply" in dry.stderr
    assert granted(mturk_emulator, type_id) == set()

    applied = ok(cg("sync", "g", "--apply"))
    # The counts first, then the job's outcome.
    assert applied.stdout.count("field") == 2
    outcome = fields(applied.stdout[applied.stdout.rindex("field") :])
    assert (outcome["state"], outcome["granted"], outcome["resumed"]) == ("succeeded", "3", "no")
    assert granted(mturk_emulator, type_id) == set(seed["listed"])
    assert mturk_emulator.state.messages == []  # granted quietly

    ok(cg("remove", "g", "--worker", seed["listed"][1]))
    left = ok(cg("sync", "g"))
    assert fields(left.stdout)["holders left alone"] == "1"
    assert "--revoke" in left.stderr
    job = json.loads(ok(cg("sync", "g", "--apply", "--json")).stdout)
    assert job["total"] == 0 and job["state"] == "succeeded" and job["resumed"] is False
    assert seed["listed"][1] in granted(mturk_emulator, type_id)

    revoked = ok(cg("sync", "g", "--apply", "--revoke", "--reason", "Record tidied."))
    assert fields(revoked.stdout[revoked.stdout.rindex("field") :])["revoked"] == "1"
    assert granted(mturk_emulator, type_id) == {seed["listed"][0], seed["listed"][2]}
    emails = [m for m in mturk_emulator.state.messages if m.kind == "qualification_revoked"]
    assert [(m.worker_id, m.text) for m in emails] == [(seed["listed"][1], "Record tidied.")]


def test_an_interrupted_sync_is_resumed_by_running_it_again(
    cg: Any, mturk_emulator: MTurkEmulator
) -> None:
    ok(cg("put", "g", "--qualification-name", QUAL_NAME, "--mode", "sandbox"))
    (type_id,) = mturk_emulator.state.qualification_types
    workers = [worker(100 + n) for n in range(8)]
    mturk_emulator.seed_workers(workers)
    ok(cg("add", "g", *(arg for w in workers for arg in ("--worker", w))))
    mturk_emulator.faults.fail_next("AssociateQualificationWithWorker", "drop", after=3)

    failed = cg("sync", "g", "--apply")
    assert_one_line_error(failed, 1, "failed", "Run the same command again to resume it")
    outcome = fields(failed.stdout[failed.stdout.rindex("field") :])
    assert (outcome["state"], outcome["granted"]) == ("failed", "3")

    resumed = ok(cg("sync", "g", "--apply"))
    outcome = fields(resumed.stdout[resumed.stdout.rindex("field") :])
    assert (outcome["state"], outcome["resumed"], outcome["granted"]) == ("succeeded", "yes", "8")
    assert outcome["found done after a restart"] == "1"
    assert granted(mturk_emulator, type_id) == set(workers)
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 8


def test_sync_refusals_are_one_line(cg: Any) -> None:
    ok(cg("put", "unbound"))
    assert_one_line_error(cg("sync", "unbound"), 1, "not bound")
    ok(cg("put", "live", "--qualification-id", "3LIVEQUALTYPE", "--mode", "live"))
    refused = cg("sync", "live", "--apply")
    assert_one_line_error(refused, 1, "add --confirm-live")
    assert_one_line_error(cg("sync", "nope"), 1, "No exclusion group is named 'nope'")
    bad = cg("put", "g", "--qualification-name", QUAL_NAME)
    assert_one_line_error(bad, 1, "mode")
