"""The SDK's Client against a live server: every admin method, over real HTTP and database."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from crowdgate_client import (
    AuthenticationError,
    Client,
    Condition,
    ConflictError,
    CreatedStudy,
    NotFoundError,
    Participant,
    ParticipantDetail,
    ParticipantEvent,
    Study,
    SurveyClient,
    ValidationError,
)

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Recorder:
    """Records each request a session sends, through requests' own response hook."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.requests: list[requests.PreparedRequest] = []
        self.session.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, **_: object) -> None:
        self.requests.append(response.request)

    def queries(self, method: str, path: str) -> list[dict[str, list[str]]]:
        return [
            parse_qs(urlsplit(r.url or "").query)
            for r in self.requests
            if r.method == method and urlsplit(r.url or "").path == f"/api/v1{path}"
        ]

    def bodies(self, method: str) -> list[object]:
        return [json.loads(r.body or b"null") for r in self.requests if r.method == method]


@pytest.fixture
def recorder():
    recorder = Recorder()
    yield recorder
    recorder.session.close()


@pytest.fixture
def sdk(server, admin_key):
    with Client(server.url, admin_key) as client:
        yield client


@pytest.fixture
def recorded(server, admin_key, recorder):
    with Client(server.url, admin_key, session=recorder.session) as client:
        yield client


# --- the service and studies ----------------------------------------------------------


def test_health(sdk):
    health = sdk.health()
    assert health.ok and health.status == "ok"


@SQLITE
def test_create_study_with_every_field(sdk):
    created = sdk.create_study(
        "memory-1",
        title="Memory span",
        platform="prolific",
        mode="live",
        conditions=[Condition("short", 50), Condition("long", 40)],
        lease_minutes=30,
        allow_repeats=True,
        allowed_origins=["https://surveys.example.edu"],
    )
    assert isinstance(created, CreatedStudy)
    assert created.survey_key.startswith("cgs_")
    assert (created.slug, created.title, created.platform, created.mode) == (
        "memory-1",
        "Memory span",
        "prolific",
        "live",
    )
    assert created.conditions == (Condition("short", 50), Condition("long", 40))
    assert (created.lease_minutes, created.allow_repeats) == (30, True)
    assert created.allowed_origins == ("https://surveys.example.edu",)
    assert isinstance(created.created_at, datetime)
    assert created.created_at.utcoffset() == timedelta(0)

    read = sdk.get_study("memory-1")
    assert type(read) is Study
    fields = {f.name for f in dataclasses.fields(Study)}
    assert {k: v for k, v in vars(created).items() if k in fields} == vars(read)
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.title = "changed"  # type: ignore[misc]


@SQLITE
def test_create_study_takes_the_service_defaults(sdk, recorded, recorder):
    created = recorded.create_study("defaults")
    assert recorder.bodies("POST") == [{"slug": "defaults"}]
    assert (created.title, created.platform, created.mode) == ("", "none", "sandbox")
    assert created.conditions == () and created.allowed_origins == ()
    assert (created.lease_minutes, created.allow_repeats) == (60, False)


@SQLITE
def test_conditions_as_mapping_pairs_or_condition_objects(sdk):
    expected = (Condition("a", 3), Condition("b", 5))
    assert sdk.create_study("by-map", conditions={"a": 3, "b": 5}).conditions == expected
    assert sdk.create_study("by-pairs", conditions=[("a", 3), ("b", 5)]).conditions == expected
    assert sdk.create_study("by-objects", conditions=expected).conditions == expected


@SQLITE
def test_a_lone_origin_string_is_refused_before_sending(sdk):
    with pytest.raises(TypeError, match="allowed_origins"):
        sdk.create_study("lone", allowed_origins="https://example.org")


@SQLITE
def test_invalid_fields_raise_validation_error_with_fields(sdk):
    with pytest.raises(ValidationError) as caught:
        sdk.create_study("Not A Slug", conditions={"a": 0})
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.status == 422 and error.code == "validation_error"
    assert {"slug", "conditions.0.target"} <= set(error.fields)
    assert error.request_id and error.request_id in str(error)


@SQLITE
def test_taken_slug_and_unknown_study(sdk):
    sdk.create_study("taken")
    with pytest.raises(ConflictError) as caught:
        sdk.create_study("taken")
    assert caught.value.code == "slug_taken"
    with pytest.raises(NotFoundError) as missing:
        sdk.get_study("nowhere")
    assert missing.value.code == "study_not_found"


def test_studies_follow_pages(server, recorded, recorder):
    slugs = [f"s-{i}" for i in range(5)]
    for slug in slugs:
        recorded.create_study(slug)
    listed = list(recorded.studies(page_size=2))
    assert [s.slug for s in listed] == slugs
    assert all(type(s) is Study for s in listed)
    pages = recorder.queries("GET", "/studies")
    assert len(pages) == 3
    assert [p["limit"] for p in pages] == [["2"]] * 3
    assert "cursor" not in pages[0] and all("cursor" in p for p in pages[1:])


@SQLITE
def test_studies_are_fetched_lazily(recorded, recorder):
    for i in range(4):
        recorded.create_study(f"lazy-{i}")
    studies = recorded.studies(page_size=2)
    assert recorder.queries("GET", "/studies") == []
    assert next(studies).slug == "lazy-0"
    assert len(recorder.queries("GET", "/studies")) == 1


@SQLITE
def test_update_sends_only_the_given_fields(recorded, recorder):
    created = recorded.create_study("upd", title="Before", conditions={"a": 5})
    updated = recorded.update_study("upd", title="After")
    assert recorder.bodies("PATCH") == [{"title": "After"}]
    assert updated.title == "After"
    assert updated.conditions == created.conditions and updated.mode == created.mode

    updated = recorded.update_study(
        "upd", conditions=[("a", 5), ("b", 7)], allow_repeats=True, allowed_origins=[]
    )
    assert recorder.bodies("PATCH")[-1] == {
        "conditions": [{"name": "a", "target": 5}, {"name": "b", "target": 7}],
        "allow_repeats": True,
        "allowed_origins": [],
    }
    assert updated.conditions == (Condition("a", 5), Condition("b", 7))
    assert recorded.get_study("upd") == updated


@SQLITE
def test_update_refused_once_participants_started(sdk):
    sdk.create_study("busy", conditions={"a": 5})
    sdk.start("busy", "w-1")
    with pytest.raises(ConflictError) as platform:
        sdk.update_study("busy", platform="prolific")
    assert platform.value.code == "study_has_participants"
    with pytest.raises(ConflictError) as condition:
        sdk.update_study("busy", conditions={"b": 5})
    assert condition.value.code == "condition_in_use"


@SQLITE
def test_rotate_survey_key(sdk, server):
    created = sdk.create_study("rot")
    rotated = sdk.rotate_survey_key("rot")
    assert rotated.slug == "rot" and rotated.survey_key != created.survey_key
    with SurveyClient(server.url, "rot", created.survey_key) as old:
        with pytest.raises(AuthenticationError) as caught:
            old.eligibility("w-1")
    assert caught.value.code == "invalid_key"
    with SurveyClient(server.url, "rot", rotated.survey_key) as new:
        assert new.eligibility("w-1").eligible


# --- participants -----------------------------------------------------------------------


def populate(sdk: Client) -> dict[str, str]:
    """Six workers across two conditions; w-0, w-2 and w-4 complete. Their codes."""
    sdk.create_study("people", conditions={"left": 10, "right": 10})
    codes = {}
    for i in range(6):
        sdk.start("people", f"w-{i}", assignment_id=f"a-{i}")
        if i % 2 == 0:
            codes[f"w-{i}"] = sdk.complete("people", f"w-{i}").completion_code
    return codes


@SQLITE
def test_participants_filters_and_paging(sdk, recorded, recorder):
    codes = populate(sdk)
    everyone = list(recorded.participants("people", page_size=2))
    assert [p.worker_id for p in everyone] == [f"w-{i}" for i in range(6)]
    # Three full pages, then the empty one a full page's next_cursor leads to.
    assert len(recorder.queries("GET", "/studies/people/participants")) == 4
    assert all(type(p) is Participant for p in everyone)

    done = list(recorded.participants("people", status="completed", page_size=2))
    assert {p.worker_id: p.completion_code for p in done} == codes
    assert all(p.status == "completed" and p.completed_at is not None for p in done)

    left = [p.worker_id for p in everyone if p.condition == "left"]
    assert [p.worker_id for p in sdk.participants("people", condition="left")] == left
    both = recorded.participants("people", status="started", condition="left")
    assert [p.worker_id for p in both] == [w for w in left if w not in codes]
    sent = recorder.queries("GET", "/studies/people/participants")[-1]
    assert (sent["status"], sent["condition"]) == (["started"], ["left"])
    assert list(sdk.participants("people", condition="nobody")) == []


@SQLITE
def test_participants_of_an_unknown_study_fail_on_first_next(sdk):
    listing = sdk.participants("nowhere")
    with pytest.raises(NotFoundError):
        next(listing)


@SQLITE
def test_bad_filter_is_a_validation_error(sdk):
    sdk.create_study("filtered")
    with pytest.raises(ValidationError) as caught:
        list(sdk.participants("filtered", status="finished"))  # type: ignore[arg-type]
    assert "status" in caught.value.fields


@SQLITE
def test_get_participant_with_events(sdk):
    sdk.create_study("detail", conditions={"only": 3})
    sdk.start("detail", "w-1", assignment_id="a-1", session_id="s-1")
    sdk.patch_state("detail", "w-1", {"block": 2})
    code = sdk.complete("detail", "w-1").completion_code

    detail = sdk.get_participant("detail", "w-1")
    assert isinstance(detail, ParticipantDetail)
    assert (detail.worker_id, detail.condition, detail.status) == ("w-1", "only", "completed")
    assert (detail.assignment_id, detail.session_id, detail.hit_id) == ("a-1", "s-1", None)
    assert detail.completion_code == code and detail.state == {"block": 2}
    assert [e.status for e in detail.events] == ["started", "completed"]
    assert all(isinstance(e, ParticipantEvent) and e.at.tzinfo for e in detail.events)
    assert detail.events[-1].at == detail.completed_at
    with pytest.raises(NotFoundError) as caught:
        sdk.get_participant("detail", "w-2")
    assert caught.value.code == "participant_not_found"


@SQLITE
def test_worker_ids_with_url_characters_stay_one_path_segment(sdk):
    sdk.create_study("odd")
    worker = "p ?#%&+é"
    assert sdk.start("odd", worker).worker_id == worker
    assert sdk.put_state("odd", worker, {"x": 1}) == {"x": 1}
    assert sdk.get_participant("odd", worker).worker_id == worker
    assert sdk.eligibility("odd", worker).reason == "resume"


# --- the CSV export ---------------------------------------------------------------------


def server_csv(server, admin_key: str, slug: str, **params: str) -> bytes:
    response = requests.get(
        f"{server.url}/api/v1/studies/{slug}/participants.csv",
        params=params,
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.content


def test_export_streams_to_a_file_equal_to_the_servers_csv(sdk, server, admin_key, tmp_path):
    populate(sdk)
    # Large states make the server send several chunks and the SDK write many.
    for i in range(3):
        sdk.put_state("people", f"w-{i}", {"notes": "é" * 20_000, "i": i})
    expected = server_csv(server, admin_key, "people")
    assert len(expected) > 64 * 1024

    seen: list[int] = []
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "people.csv"
    written = sdk.export_participants("people", target, progress=seen.append, chunk_size=8192)
    assert written == len(expected) == target.stat().st_size
    assert target.read_bytes() == expected
    assert len(seen) > 1 and seen == sorted(seen) and seen[-1] == written
    assert list(target.parent.iterdir()) == [target]


@SQLITE
def test_export_filters_and_file_objects(sdk, server, admin_key):
    populate(sdk)
    buffer = io.BytesIO()
    written = sdk.export_participants("people", buffer, status="completed", condition="left")
    expected = server_csv(server, admin_key, "people", status="completed", condition="left")
    assert buffer.getvalue() == expected and written == len(expected)
    assert expected.startswith(b"worker_id,attempt,")


@SQLITE
def test_failed_export_leaves_no_file(sdk, tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "missing.csv"
    with pytest.raises(NotFoundError):
        sdk.export_participants("nowhere", target)
    assert list(target.parent.iterdir()) == []


# --- codes, eligibility and the survey endpoints with an admin key ----------------------


@SQLITE
def test_verify_code_as_admin(sdk):
    codes = populate(sdk)
    owner = sdk.verify_code("people", codes["w-2"].lower())
    assert owner.valid and owner.worker_id == "w-2" and owner.reason is None
    assert owner.status == "completed" and owner.condition in {"left", "right"}

    other = sdk.verify_code("people", codes["w-2"], worker_id="w-0")
    assert not other.valid
    assert (other.reason, other.worker_id, other.code_worker_id) == ("other_worker", "w-0", "w-2")
    unknown = sdk.verify_code("people", "ZZZZZZZZZZ")
    assert not unknown.valid and unknown.reason == "unknown_code"


@SQLITE
def test_eligibility_as_admin(sdk):
    sdk.create_study("elig")
    assert sdk.eligibility("elig", "w-1").reason == "new"
    sdk.start("elig", "w-1", assignment_id="a-1")
    assert sdk.eligibility("elig", "w-1", assignment_id="a-1").reason == "resume"
    refused = sdk.eligibility("elig", "w-1", assignment_id="a-2")
    assert (refused.eligible, refused.reason) == (False, "already_participated")


@SQLITE
def test_survey_operations_with_an_admin_key(sdk):
    sdk.create_study("admin-run", conditions={"a": 1})
    started = sdk.start("admin-run", "w-1", hit_id="h-1")
    assert (started.condition, started.resumed, started.hit_id) == ("a", False, "h-1")
    assert started.lease_expires_at is not None and started.lease_expires_at.tzinfo
    assert sdk.put_state("admin-run", "w-1", {"a": 1, "b": [1, 2]}) == {"a": 1, "b": [1, 2]}
    assert sdk.patch_state("admin-run", "w-1", {"a": None, "c": {"d": 1}}) == {
        "b": [1, 2],
        "c": {"d": 1},
    }
    assert sdk.get_state("admin-run", "w-1").to_dict() == {"b": [1, 2], "c": {"d": 1}}
    done = sdk.complete("admin-run", "w-1")
    assert done.status == "completed" and sdk.complete("admin-run", "w-1") == done
    assert sdk.start("admin-run", "w-1").completion_code == done.completion_code


@SQLITE
def test_wrong_admin_key(server):
    with Client(server.url, "cga_not-a-real-key") as client:
        with pytest.raises(AuthenticationError) as caught:
            client.get_study("any")
    assert caught.value.status == 401 and caught.value.code == "invalid_key"
