"""The SDK's exclusion-group calls against a live server, which reads HITs from and syncs
qualifications to the MTurk emulator: typed answers, pages followed, files uploaded,
exports streamed, and a sync that is a dry run first and resumes after a failure."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator
from crowdgate_client import (
    Client,
    ConflictError,
    DeletedExclusionGroup,
    ExclusionGroup,
    GroupBinding,
    GroupSyncPlan,
    Job,
    KeptWorker,
    Member,
    MemberChangeResult,
    NotFoundError,
    SavedExclusionGroup,
    SurveyClient,
    ValidationError,
)

from tests.http import ApiClient
from tests.test_sdk_client import Recorder

QUAL_NAME = "crowdgate-deception-record"
HASH_KEY = "a lab's shared secret"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def hash_key() -> str | None:
    return HASH_KEY


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str, hash_key: str | None) -> dict[str, Any]:
    config = {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MTURK_MAX_ATTEMPTS": 1,
    }
    if hash_key is not None:
        config["CROWDGATE_ID_HASH_KEY"] = hash_key
    return config


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.session.close()


@pytest.fixture
def recorded(server: Any, admin_key: str, recorder: Recorder) -> Iterator[Client]:
    with Client(server.url, admin_key, session=recorder.session) as client:
        yield client


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


def test_the_seed_scenario(sdk: Client, mturk_emulator: MTurkEmulator, seed: dict[str, Any]):
    group = sdk.put_exclusion_group(
        "deception",
        description="Saw a deception study",
        mturk_qualification_name=QUAL_NAME,
        mode="sandbox",
    )
    assert isinstance(group, SavedExclusionGroup) and group.created is True
    assert isinstance(group.binding, GroupBinding)
    assert (group.binding.platform, group.binding.mode) == ("mturk", "sandbox")
    assert group.binding.qualification_name == QUAL_NAME
    type_id = group.binding.qualification_type_id
    again = sdk.put_exclusion_group("deception", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    assert again.created is False and again.binding == group.binding
    assert again.description == "Saw a deception study"  # not given: left as it was

    result = sdk.change_exclusion_members(
        "deception",
        add_hit_ids=seed["hits"],
        add_worker_ids=seed["listed"],
        remove_worker_ids=[seed["listed"][0]],
    )
    assert isinstance(result, MemberChangeResult)
    assert (result.added, result.removed, result.kept, result.members) == (10, 0, 1, 10)
    assert result.kept_workers == (
        KeptWorker(
            worker_id=seed["listed"][0], reason="added_in_this_request", sources=("workers",)
        ),
    )
    assert [(h.hit_id, h.workers) for h in result.hits] == [
        (seed["hits"][0], 4),
        (seed["hits"][1], 4),
    ]

    # Pages of three are followed to the end, in worker id order.
    found = list(sdk.exclusion_members("deception", page_size=3))
    assert all(isinstance(m, Member) for m in found)
    assert [m.worker_id for m in found] == sorted([worker(n) for n in range(7)] + seed["listed"])
    both = next(m for m in found if m.worker_id == worker(3))
    assert sorted(s.source for s in both.sources) == sorted(f"hit:{h}" for h in seed["hits"])
    assert isinstance(both.first_added_at, datetime) and both.first_added_at.tzinfo is not None

    plan = sdk.sync_exclusion_group("deception")
    assert isinstance(plan, GroupSyncPlan) and plan.dry_run is True
    assert (plan.members, plan.holders, plan.to_grant, plan.to_revoke) == (10, 0, 10, 0)
    assert plan.qualification_type_id == type_id and len(plan.grant_sample) == 10
    assert granted(mturk_emulator, type_id) == set()

    job = sdk.sync_exclusion_group("deception", dry_run=False)
    assert isinstance(job, Job) and job.state == "succeeded" and job.kind == "exclusion_sync"
    assert job.counts["granted"] == 10 and job.extra["resumed"] is False
    assert granted(mturk_emulator, type_id) == {m.worker_id for m in found}
    assert all(not g.notified for g in mturk_emulator.state.grants.values())
    assert mturk_emulator.state.messages == []
    assert sdk.get_exclusion_group("deception").sync_job_id == job.job_id

    # A re-run grants nothing.
    plan = sdk.sync_exclusion_group("deception")
    assert isinstance(plan, GroupSyncPlan)
    assert (plan.to_grant, plan.already_granted, plan.holders) == (0, 10, 10)
    rerun = sdk.sync_exclusion_group("deception", dry_run=False)
    assert isinstance(rerun, Job) and rerun.total == 0 and rerun.counts["granted"] == 0
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 10


def test_groups_list_show_update_delete(sdk: Client, admin: ApiClient, make_study: Any):
    for name in ("a", "b", "c"):
        assert sdk.put_exclusion_group(name).created is True
    listed = list(sdk.exclusion_groups(page_size=2))
    assert [g.name for g in listed] == ["a", "b", "c"]
    assert all(type(g) is ExclusionGroup and g.binding is None for g in listed)

    bound = sdk.put_exclusion_group("a", mturk_qualification_type_id="3SOMEQUALTYPE", mode="live")
    assert bound.binding is not None and bound.binding.qualification_type_id == "3SOMEQUALTYPE"
    assert bound.binding.qualification_name is None
    unbound = sdk.put_exclusion_group("a", unbind=True, record_when="completed")
    assert unbound.binding is None and unbound.record_when == "completed"

    study, _ = make_study(exclusion_groups=["b"], include_groups=["c"])
    shown = sdk.get_exclusion_group("b")
    assert shown.excluding_studies == (study["slug"],) and shown.including_studies == ()
    assert sdk.get_exclusion_group("c").including_studies == (study["slug"],)
    assert sdk.get_study(study["slug"]).exclusion_groups == ("b",)

    with pytest.raises(ConflictError) as refused:
        sdk.delete_exclusion_group("b")
    assert refused.value.code == "group_in_use" and study["slug"] in refused.value.message
    assert sdk.delete_exclusion_group("a") == DeletedExclusionGroup(name="a")
    with pytest.raises(NotFoundError) as missing:
        sdk.get_exclusion_group("a")
    assert missing.value.code == "group_not_found"
    assert [g.name for g in sdk.exclusion_groups()] == ["b", "c"]


@SQLITE
def test_put_sends_only_what_is_given(recorded: Client, recorder: Recorder):
    recorded.put_exclusion_group("g")
    recorded.put_exclusion_group("g", description="Took part", record_studies=[])
    recorded.put_exclusion_group("g", unbind=True)
    assert [r.method for r in recorder.requests] == ["PUT"] * 3
    assert recorder.bodies("PUT") == [
        {},
        {"description": "Took part", "record_studies": []},
        {"mturk_qualification_type_id": None},
    ]


@SQLITE
def test_bad_input_is_refused_before_or_by_the_service(sdk: Client, seed: dict[str, Any]):
    with pytest.raises(TypeError, match="list"):
        sdk.change_exclusion_members("g", add_worker_ids=worker(1))
    with pytest.raises(TypeError, match="record_studies"):
        sdk.put_exclusion_group("g", record_studies="study-1")
    with pytest.raises(TypeError, match="unbind"):
        sdk.put_exclusion_group("g", unbind=True, mturk_qualification_type_id="3X")

    with pytest.raises(ValidationError) as bad_name:
        sdk.put_exclusion_group("no spaces please")
    assert bad_name.value.code == "invalid_group_name" and "name" in bad_name.value.fields
    with pytest.raises(ValidationError) as no_mode:
        sdk.put_exclusion_group("g", mturk_qualification_name=QUAL_NAME)
    assert "mode" in no_mode.value.fields
    with pytest.raises(ValidationError) as no_study:
        sdk.put_exclusion_group("g", record_studies=["no-such-study"])
    assert no_study.value.code == "study_not_found" and "record_studies" in no_study.value.fields

    sdk.put_exclusion_group("g")
    with pytest.raises(ValidationError) as nothing:
        sdk.change_exclusion_members("g")
    assert "add_worker_ids" in nothing.value.fields
    with pytest.raises(ValidationError) as where:
        sdk.change_exclusion_members("g", add_hit_ids=seed["hits"])
    assert "platform" in where.value.fields  # an unbound group: say where the HITs are
    with pytest.raises(ValidationError) as unreadable:
        sdk.change_exclusion_members(
            "g", add_hit_ids=["3NOSUCHHITEXAMPLE"], platform="mturk", mode="sandbox"
        )
    assert unreadable.value.code == "hit_unreadable" and "add_hit_ids" in unreadable.value.fields
    assert sdk.get_exclusion_group("g").members == 0  # nothing was changed
    with pytest.raises(NotFoundError):
        sdk.change_exclusion_members("nope", add_worker_ids=[worker(1)])


def test_removing_a_hit_keeps_workers_another_source_holds(sdk: Client, seed: dict[str, Any]):
    sdk.put_exclusion_group("record")
    sdk.change_exclusion_members(
        "record", add_hit_ids=seed["hits"], platform="mturk", mode="sandbox"
    )
    result = sdk.change_exclusion_members("record", remove_hit_ids=[seed["hits"][0], "3NOSUCHHIT"])
    assert (result.removed, result.kept) == (3, 1)
    assert result.kept_workers[0].worker_id == worker(3)
    assert result.kept_workers[0].reason == "other_sources"
    assert result.unmatched_hit_ids == ("3NOSUCHHIT",)
    assert [m.worker_id for m in sdk.exclusion_members("record")] == [
        worker(n) for n in range(3, 7)
    ]


BATCH = (
    '"HITId","AssignmentId","WorkerId","AssignmentStatus","Answer.surveycode"\n'
    '"3HIT","3ASG1","AWORKERBATCH01","Submitted","c1"\n'
    '"3HIT","3ASG2","AWORKERBATCH02","Submitted","c2"\n'
)
PROLIFIC = (
    "Submission id,Participant id,Status\n"
    "s1,5f0c1a2b3c4d5e6f7a8b9c0d,APPROVED\n"
    "s2,5f0c1a2b3c4d5e6f7a8b9c0e,APPROVED\n"
)


def test_uploading_files(sdk: Client, tmp_path: Path):
    sdk.put_exclusion_group("g")
    batch = tmp_path / "batch.csv"
    batch.write_text(BATCH, encoding="utf-8")
    added = sdk.upload_exclusion_members("g", batch)
    assert added.added == 2 and added.members == 2
    assert added.file is not None
    assert (added.file.name, added.file.read_from, added.file.workers) == (
        "batch.csv",
        "column 'WorkerId'",
        2,
    )
    prolific = sdk.upload_exclusion_members(
        "g", io.BytesIO(PROLIFIC.encode()), filename="prolific-export.csv"
    )
    assert prolific.added == 2 and prolific.file is not None
    assert prolific.file.read_from == "column 'Participant id'"
    plain = sdk.upload_exclusion_members("g", io.BytesIO(b"worker_id\nAWORKERBATCH01\nANEW01\n"))
    assert (plain.added, plain.already_members, plain.members) == (1, 1, 5)
    assert plain.file is not None and plain.file.name == "upload.csv"

    sources = {m.worker_id: [s.source for s in m.sources] for m in sdk.exclusion_members("g")}
    assert sources["AWORKERBATCH01"] == ["file:batch.csv", "file:upload.csv"]
    assert sources["5f0c1a2b3c4d5e6f7a8b9c0d"] == ["file:prolific-export.csv"]

    removed = sdk.upload_exclusion_members("g", batch, action="remove")
    assert (removed.removed, removed.members) == (2, 3)

    with pytest.raises(ValidationError) as no_column:
        sdk.upload_exclusion_members("g", io.BytesIO(b"a,b\n1,2\n"), filename="odd.csv")
    assert no_column.value.code == "column_not_found" and "file" in no_column.value.fields


def test_exports_stream_plain_and_hashed(
    sdk: Client, recorded: Client, recorder: Recorder, tmp_path: Path
):
    sdk.put_exclusion_group("g")
    workers = [worker(n) for n in range(5)]
    sdk.change_exclusion_members("g", add_worker_ids=workers)

    path = tmp_path / "g.csv"
    written = sdk.export_exclusion_members("g", path)
    assert written == path.stat().st_size
    rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    assert [r["worker_id"] for r in rows] == workers
    assert {r["sources"] for r in rows} == {"workers"}
    assert all(datetime.fromisoformat(r["first_added_at"]) for r in rows)

    buffer = io.BytesIO()
    seen: list[int] = []
    sdk.export_exclusion_members("g", buffer, hash_ids=True, progress=seen.append)
    hashed = list(csv.DictReader(buffer.getvalue().decode().splitlines()))
    expected = [
        hmac.new(HASH_KEY.encode(), w.encode(), hashlib.sha256).hexdigest() for w in workers
    ]
    assert sorted(r["worker_id"] for r in hashed) == sorted(expected)
    assert seen and seen[-1] == len(buffer.getvalue())
    assert not any(w in buffer.getvalue().decode() for w in workers)

    # Pages of two: the cursor of a hashed listing gives no raw id away either.
    listed = [m.worker_id for m in recorded.exclusion_members("g", hash_ids=True, page_size=2)]
    assert sorted(listed) == sorted(expected)
    cursors = [
        q["cursor"][0] for q in recorder.queries("GET", "/exclusions/g/members") if q.get("cursor")
    ]
    assert len(cursors) == 2
    assert not any(w in cursor for cursor in cursors for w in workers)


@SQLITE
@pytest.mark.parametrize("hash_key", [None])
def test_hashing_needs_the_key(sdk: Client, tmp_path: Path):
    sdk.put_exclusion_group("g")
    sdk.change_exclusion_members("g", add_worker_ids=[worker(1)])
    exports = tmp_path / "exports"
    exports.mkdir()
    with pytest.raises(ConflictError) as refused:
        sdk.export_exclusion_members("g", exports / "g.csv", hash_ids=True)
    assert refused.value.code == "hash_key_not_set"
    assert list(exports.iterdir()) == []  # not even a partial file
    with pytest.raises(ConflictError):
        next(sdk.exclusion_members("g", hash_ids=True))


def test_recorded_studies_exclude_from_others(sdk: Client, make_study: Any, admin: ApiClient):
    first, page = make_study()
    second, second_page = make_study()
    group = sdk.put_exclusion_group(
        "deception", record_studies=[first["slug"]], record_when="completed"
    )
    assert group.record_studies == (first["slug"],) and group.record_when == "completed"
    response = admin.patch(f"/studies/{second['slug']}", json={"exclusion_groups": ["deception"]})
    assert response.status_code == 200, response.text

    sdk.start(first["slug"], "W-ONE")
    assert sdk.get_exclusion_group("deception").members == 0  # started, not completed
    sdk.complete(first["slug"], "W-ONE")
    (member,) = sdk.exclusion_members("deception")
    assert member.worker_id == "W-ONE"
    assert [s.source for s in member.sources] == [f"study:{first['slug']}"]

    # An admin key is told which group; a survey page only that the worker is excluded.
    verdict = sdk.eligibility(second["slug"], "W-ONE")
    assert (verdict.eligible, verdict.reason, verdict.extra["group"]) == (
        False,
        "excluded",
        "deception",
    )
    with SurveyClient(
        second_page.base_url, second["slug"], survey_key=second_page.survey_key
    ) as survey:
        shown = survey.eligibility("W-ONE")
        assert (shown.eligible, shown.reason) == (False, "excluded")
        assert "group" not in shown.extra
        with pytest.raises(ConflictError) as refused:
            survey.start("W-ONE")
        assert refused.value.code == "excluded"
    assert sdk.eligibility(second["slug"], "W-TWO").eligible is True
    # Its own participants are not excluded from the study that recorded them.
    assert sdk.start(first["slug"], "W-ONE").resumed is True


def test_a_sync_that_failed_midway_resumes(
    sdk: Client, mturk_emulator: MTurkEmulator, seed: dict[str, Any]
):
    group = sdk.put_exclusion_group("g", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    assert group.binding is not None
    type_id = group.binding.qualification_type_id
    workers = [worker(100 + n) for n in range(12)]
    mturk_emulator.seed_workers(workers)
    sdk.change_exclusion_members("g", add_worker_ids=workers)
    # The 6th grant takes effect on MTurk, but its answer never arrives.
    mturk_emulator.faults.fail_next("AssociateQualificationWithWorker", "drop", after=5)
    failed = sdk.sync_exclusion_group("g", dry_run=False)
    assert isinstance(failed, Job) and failed.state == "failed"
    assert failed.counts["granted"] == 5 and failed.extra["resumed"] is False

    resumed = sdk.sync_exclusion_group("g", dry_run=False, wait=False)
    assert isinstance(resumed, Job) and resumed.job_id == failed.job_id
    assert resumed.extra["resumed"] is True
    finished = sdk.wait_for_job(resumed, timeout=30, poll=0.05)
    assert finished.state == "succeeded"
    assert finished.counts["granted"] == 12 and finished.counts["settled_after_restart"] == 1
    assert granted(mturk_emulator, type_id) == set(workers)
    assert mturk_emulator.faults.calls["AssociateQualificationWithWorker"] == 12


@SQLITE
def test_revoking_is_asked_for_and_live_needs_confirming(
    sdk: Client, mturk_emulator: MTurkEmulator, seed: dict[str, Any]
):
    with pytest.raises(NotFoundError):
        sdk.sync_exclusion_group("nope")
    sdk.put_exclusion_group("unbound")
    with pytest.raises(ConflictError) as unbound:
        sdk.sync_exclusion_group("unbound")
    assert unbound.value.code == "group_not_bound"
    sdk.put_exclusion_group("live", mturk_qualification_type_id="3LIVEQUALTYPE", mode="live")
    with pytest.raises(ValidationError) as live:
        sdk.sync_exclusion_group("live", dry_run=False)
    assert live.value.code == "confirmation_required" and "confirm" in live.value.fields

    group = sdk.put_exclusion_group("g", mturk_qualification_name=QUAL_NAME, mode="sandbox")
    assert group.binding is not None
    type_id = group.binding.qualification_type_id
    sdk.change_exclusion_members("g", add_worker_ids=seed["listed"])
    sdk.sync_exclusion_group("g", dry_run=False)
    sdk.change_exclusion_members("g", remove_worker_ids=[seed["listed"][1]])

    plan = sdk.sync_exclusion_group("g")
    assert isinstance(plan, GroupSyncPlan) and (plan.to_revoke, plan.left_alone) == (0, 1)
    plan = sdk.sync_exclusion_group("g", revoke=True)
    assert isinstance(plan, GroupSyncPlan) and plan.revoke_sample == (seed["listed"][1],)
    job = sdk.sync_exclusion_group("g", dry_run=False, revoke=True, reason="Record tidied.")
    assert isinstance(job, Job) and job.counts["revoked"] == 1
    assert granted(mturk_emulator, type_id) == {seed["listed"][0], seed["listed"][2]}
    revoked = [m for m in mturk_emulator.state.messages if m.kind == "qualification_revoked"]
    assert [(m.worker_id, m.text) for m in revoked] == [(seed["listed"][1], "Record tidied.")]


def test_studies_name_their_groups_through_the_sdk(sdk: Client) -> None:
    sdk.put_exclusion_group("deception")
    sdk.put_exclusion_group("screened", record_studies=[])
    created = sdk.create_study("s1", exclusion_groups=["deception"])
    assert created.exclusion_groups == ("deception",) and created.include_groups == ()
    sdk.put_exclusion_group("deception", record_studies=["s1"])
    study = sdk.update_study("s1", include_groups=["screened"])
    assert study.include_groups == ("screened",)
    assert study.exclusion_groups == ("deception",) and study.recorded_in == ("deception",)
    assert sdk.update_study("s1", exclusion_groups=[]).exclusion_groups == ()
    with pytest.raises(ValidationError) as raised:
        sdk.update_study("s1", exclusion_groups=["nope"])
    assert "exclusion_groups" in raised.value.fields
    with pytest.raises(TypeError):
        sdk.update_study("s1", exclusion_groups="deception")
