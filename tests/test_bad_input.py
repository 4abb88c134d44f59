"""Bad input: always a 4xx in the one JSON error shape naming the problem, never half-written.

Each test that sends something wrong compares the whole database record before and
after, with the clock moved on in between, so any write at all (even one that only
touches ``updated_at`` or a lease) shows up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from crowdgate.db import Database
from crowdgate.models import Participant, ParticipantEvent, Study
from sqlalchemy import func, select

from tests.http import ApiClient, assert_error

MAX_BODY = 1024 * 1024

#: Write (and body-reading) endpoints, as (who calls, method, path with {slug}).
ENDPOINTS: dict[str, tuple[str, str, str]] = {
    "start": ("page", "POST", "/studies/{slug}/participants/w-new/start"),
    "state_put": ("page", "PUT", "/studies/{slug}/participants/w-held/state"),
    "state_patch": ("page", "PATCH", "/studies/{slug}/participants/w-held/state"),
    "complete": ("page", "POST", "/studies/{slug}/participants/w-held/complete"),
    "verify": ("page", "POST", "/studies/{slug}/codes/verify"),
    "study_create": ("admin", "POST", "/studies"),
    "study_patch": ("admin", "PATCH", "/studies/{slug}"),
}

MALFORMED_BODIES = {
    "truncated": b'{"trial": ',
    "single_quotes": b"{'trial': 1}",
    "trailing_garbage": b'{"trial": 1} and more',
    "not_utf8": b'{"trial": "\xff\xfe"}',
    "bare_word": b"trial",
}
NOT_OBJECT_BODIES = {
    "array": b'[{"trial": 1}]',
    "string": b'"trial"',
    "number": b"3",
    "null": b"null",
    "true": b"true",
}


def record(db: Database) -> dict[str, Any]:
    """Every study and participant column, and the number of status events."""
    with db.read() as session:
        return {
            "studies": [
                {c.name: getattr(s, c.name) for c in Study.__table__.columns}
                for s in session.scalars(select(Study).order_by(Study.id))
            ],
            "participants": [
                {c.name: getattr(p, c.name) for c in Participant.__table__.columns}
                for p in session.scalars(select(Participant).order_by(Participant.id))
            ],
            "events": session.scalar(select(func.count()).select_from(ParticipantEvent)),
        }


def participant_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Participant)) or 0


@dataclass
class World:
    """A study with one started participant (``w-held``) whose state is ``{"trial": 1}``."""

    slug: str
    study: dict[str, Any]
    page: ApiClient
    admin: ApiClient
    db: Database

    def send(self, endpoint: str, **kwargs: Any) -> Any:
        who, method, path = ENDPOINTS[endpoint]
        client = self.page if who == "page" else self.admin
        return client.request(method, path.format(slug=self.slug), **kwargs)

    def record(self) -> dict[str, Any]:
        return record(self.db)


@pytest.fixture
def world(make_study, admin, db, clock) -> World:
    study, page = make_study(conditions=[{"name": "a", "target": 2}, {"name": "b", "target": 2}])
    slug = study["slug"]
    assert page.post(f"/studies/{slug}/participants/w-held/start").status_code == 200
    assert page.put(f"/studies/{slug}/participants/w-held/state", json={"trial": 1}).ok
    # Any write after this point would carry a later updated_at than the record holds.
    clock.advance(minutes=1)
    return World(slug=slug, study=study, page=page, admin=admin, db=db)


def assert_client_error(response: Any) -> dict[str, Any]:
    """Some 4xx, in the one error shape (for inputs where several codes are defensible)."""
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return assert_error(response, response.status_code, response.json()["error"])


JSON = {"Content-Type": "application/json"}


# --- bodies that are not JSON objects ------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_malformed_json_is_400_and_writes_nothing(world, endpoint):
    before = world.record()
    for what, body in MALFORMED_BODIES.items():
        response = world.send(endpoint, data=body, headers=JSON)
        assert response.status_code == 400, (what, response.text)
        assert_error(response, 400, "malformed_json")
    assert world.record() == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_json_that_is_not_an_object_is_400_and_writes_nothing(world, endpoint):
    before = world.record()
    for what, body in NOT_OBJECT_BODIES.items():
        response = world.send(endpoint, data=body, headers=JSON)
        assert response.status_code == 400, (what, response.text)
        assert_error(response, 400, "body_not_object")
    assert world.record() == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_json_numbers_are_malformed_json(world, literal):
    before = world.record()
    response = world.send("state_put", data=f'{{"score": {literal}}}'.encode(), headers=JSON)
    assert_error(response, 400, "malformed_json")
    assert world.record() == before


@pytest.mark.parametrize("endpoint", ["start", "state_put", "study_create"])
def test_deeply_nested_json_is_a_400_not_a_500(world, endpoint):
    depth = 100_000  # 200 kB: well under the body limit
    body = b'{"deep": ' + b"[" * depth + b"]" * depth + b"}"
    before = world.record()
    response = world.send(endpoint, data=body, headers=JSON)
    assert_error(response, 400, "malformed_json")
    assert world.record() == before


def test_state_put_with_a_body_of_another_media_type_is_refused_and_keeps_the_state(world):
    before = world.record()
    response = world.send("state_put", data=b'{"trial": 2}', headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")
    assert world.record() == before


# --- unknown fields ------------------------------------------------------------------------

UNKNOWN_FIELD_BODIES = {
    "start": {"assignment_id": "asg-1", "colour": "red"},
    "complete": {"colour": "red"},
    "verify": {"code": "ABC123", "worker_id": "w-held", "colour": "red"},
    "study_create": {"slug": "fresh-study", "platform": "none", "colour": "red"},
    "study_patch": {"title": "renamed", "colour": "red"},
}


@pytest.mark.parametrize("endpoint", list(UNKNOWN_FIELD_BODIES))
def test_unknown_field_in_a_body_is_422_naming_it(world, endpoint):
    before = world.record()
    response = world.send(endpoint, json=UNKNOWN_FIELD_BODIES[endpoint])
    assert_error(response, 422, "validation_error", field="colour")
    assert world.record() == before


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("page", "/studies/{slug}/participants/w-new/start"),
        ("page", "/studies/{slug}/participants/w-held/state"),
        ("page", "/studies/{slug}/codes/verify?code=ABC123&worker_id=w-held"),
        ("page", "/studies/{slug}/eligibility?worker_id=w-held"),
        ("admin", "/studies"),
        ("admin", "/studies/{slug}/participants"),
        ("admin", "/studies/{slug}/participants.csv"),
    ],
)
def test_unknown_query_parameter_is_422_naming_it(world, who, path):
    client = world.page if who == "page" else world.admin
    url = path.format(slug=world.slug)
    before = world.record()
    response = client.get(url + ("&" if "?" in url else "?") + "colour=red")
    assert_error(response, 422, "validation_error", field="colour")
    assert world.record() == before


def test_unknown_field_in_a_form_body_to_start_is_422_naming_it(world):
    response = world.page.post(
        f"/studies/{world.slug}/participants/w-new/start", data={"colour": "red"}
    )
    assert_error(response, 422, "validation_error", field="colour")
    assert participant_count(world.db) == 1


def test_export_refuses_pagination_parameters_it_does_not_take(world):
    response = world.admin.get(f"/studies/{world.slug}/participants.csv?limit=10")
    assert_error(response, 422, "validation_error", field="limit")


# --- worker ids that do not fit the study's platform ---------------------------------------

BAD_WORKER_IDS: list[tuple[str, str, str]] = [
    ("mturk", "a123", "lower-case a"),
    ("mturk", "A", "A alone"),
    ("mturk", "A" + "B" * 64, "65 characters"),
    ("mturk", "AB-12", "dash"),
    ("mturk", "A1B2 ", "trailing space"),
    ("prolific", "5f3a1b2c3d4e5f6a7b8c9d0", "23 characters"),
    ("prolific", "5f3a1b2c3d4e5f6a7b8c9d0e1", "25 characters"),
    ("prolific", "5f3a1b2c3d4e5f6a7b8c9d0g", "not hex"),
    ("none", "x" * 129, "129 characters"),
    ("none", "lab\x01007", "control character"),
    ("none", "lab\x7f007", "DEL"),
    ("none", "lab\t007", "tab"),
    ("none", " lab-007", "leading space"),
    ("none", "lab-007 ", "trailing space"),
]

#: Where a worker id goes, as (method, path with {slug} and {wid}, request arguments).
WORKER_ID_CALLS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "start": ("POST", "/studies/{slug}/participants/{wid}/start", {"json": {}}),
    "start_get": ("GET", "/studies/{slug}/participants/{wid}/start", {}),
    "state_get": ("GET", "/studies/{slug}/participants/{wid}/state", {}),
    "state_put": ("PUT", "/studies/{slug}/participants/{wid}/state", {"json": {"trial": 1}}),
    "state_patch": ("PATCH", "/studies/{slug}/participants/{wid}/state", {"json": {"t": 1}}),
    "complete": ("POST", "/studies/{slug}/participants/{wid}/complete", {}),
    "eligibility": ("GET", "/studies/{slug}/eligibility", {"params": {"worker_id": "{wid}"}}),
    "verify": ("GET", "/studies/{slug}/codes/verify", {"params": {"worker_id": "{wid}"}}),
    "verify_post": ("POST", "/studies/{slug}/codes/verify", {"json": {"worker_id": "{wid}"}}),
}

#: Calls whose schema checks worker_id's length (1 to 128) before the platform does.
SCHEMA_CHECKS_LENGTH = ("eligibility", "verify", "verify_post")


def _call_with_worker_id(page: ApiClient, slug: str, worker_id: str, call: str) -> Any:
    method, path, kwargs = WORKER_ID_CALLS[call]
    url = path.format(slug=slug, wid=quote(worker_id, safe=""))
    filled: dict[str, Any] = {}
    for name, value in kwargs.items():
        value = {k: (worker_id if v == "{wid}" else v) for k, v in value.items()}
        if call.startswith("verify"):
            value["code"] = "ABC123"
        filled[name] = value
    return page.request(method, url, **filled)


@pytest.mark.parametrize(
    ("platform", "worker_id"),
    [(p, w) for p, w, _ in BAD_WORKER_IDS],
    ids=[f"{p}-{what}" for p, _, what in BAD_WORKER_IDS],
)
def test_worker_id_that_does_not_fit_the_platform_is_422_invalid_worker_id(
    make_study, db, platform, worker_id
):
    study, page = make_study(platform=platform)
    before = record(db)
    for call in WORKER_ID_CALLS:
        if len(worker_id) > 128 and call in SCHEMA_CHECKS_LENGTH:
            continue  # see test_worker_id_over_128_characters_is_invalid_worker_id_everywhere
        response = _call_with_worker_id(page, study["slug"], worker_id, call)
        assert response.status_code == 422, (call, response.text)
        body = assert_error(response, 422, "invalid_worker_id", field="worker_id")
        assert f"not a valid {platform} worker id" in body["message"], call
    assert record(db) == before


@pytest.mark.parametrize("call", SCHEMA_CHECKS_LENGTH)
def test_worker_id_over_128_characters_is_invalid_worker_id_everywhere(make_study, db, call):
    study, page = make_study(platform="none")
    response = _call_with_worker_id(page, study["slug"], "x" * 129, call)
    assert_error(response, 422, "invalid_worker_id", field="worker_id")


VALID_WORKER_IDS = [
    ("mturk", "A1B2C3D4E5F6G7"),
    ("mturk", "A" + "Z" * 63),
    ("prolific", "5f3a1b2c3d4e5f6a7b8c9d0e"),
    ("prolific", "5F3A1B2C3D4E5F6A7B8C9D0E"),
    ("none", "lab-participant-007"),
    ("none", "x" * 128),
    ("none", "lab participant 7"),
    ("none", "étudiant-ü-7"),
    ("none", "7"),
]


@pytest.mark.parametrize(
    ("platform", "worker_id"), VALID_WORKER_IDS, ids=[f"{p}-{w[:24]}" for p, w in VALID_WORKER_IDS]
)
def test_worker_id_that_fits_the_platform_is_accepted_everywhere(
    make_study, admin, platform, worker_id
):
    study, page = make_study(platform=platform)
    slug = study["slug"]
    base = f"/studies/{slug}/participants/{quote(worker_id, safe='')}"

    eligible = page.get(f"/studies/{slug}/eligibility", params={"worker_id": worker_id})
    assert eligible.json() == {"worker_id": worker_id, "eligible": True, "reason": "new"}
    started = page.post(f"{base}/start", json={})
    assert started.status_code == 200, started.text
    assert started.json()["worker_id"] == worker_id
    assert page.put(f"{base}/state", json={"trial": 2}).json() == {"trial": 2}
    assert page.get(f"{base}/state").json() == {"trial": 2}
    code = page.post(f"{base}/complete").json()["completion_code"]
    verified = page.get(
        f"/studies/{slug}/codes/verify", params={"code": code, "worker_id": worker_id}
    )
    assert verified.json() == {"valid": True, "worker_id": worker_id}
    detail = admin.get(f"/studies/{slug}/participants/{quote(worker_id, safe='')}")
    assert detail.json()["worker_id"] == worker_id
    assert detail.json()["status"] == "completed"


@pytest.mark.parametrize(
    "worker_id",
    ["lab\x85007", "lab\x9b31m007", "lab\u2028007", "\u00a0lab-007", "lab-007\u3000"],
    ids=["NEL", "CSI", "line-separator", "leading-nbsp", "trailing-ideographic-space"],
)
def test_none_worker_id_refuses_unicode_controls_and_spaces_at_the_ends(make_study, db, worker_id):
    study, page = make_study(platform="none")
    response = page.post(f"/studies/{study['slug']}/participants/{quote(worker_id, safe='')}/start")
    assert_error(response, 422, "invalid_worker_id", field="worker_id")
    assert participant_count(db) == 0


# --- other strings a database cannot hold --------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("start", {"assignment_id": "asg\x001"}, "assignment_id"),
        ("start", {"session_id": "\x00"}, "session_id"),
        ("study_create", {"slug": "nul-title", "title": "a\x00b"}, "title"),
        (
            "study_patch",
            {"conditions": [{"name": n, "target": 2} for n in ("a", "b", "c\x00")]},
            "conditions.2.name",
        ),
    ],
    ids=["start-assignment_id", "start-session_id", "create-title", "patch-condition-name"],
)
def test_nul_character_in_a_stored_string_is_422(world, endpoint, body, field):
    before = world.record()
    response = world.send(endpoint, json=body)
    assert_error(response, 422, "validation_error", field=field)
    assert world.record() == before


def test_nul_character_in_state_is_kept_or_refused_never_a_500(world, request, db):
    before = world.record()
    response = world.send("state_put", json={"note": "a\x00b"})
    if response.status_code == 200:
        assert world.page.get(f"/studies/{world.slug}/participants/w-held/state").json() == {
            "note": "a\x00b"
        }
    else:
        assert_client_error(response)
        assert world.record() == before


# --- unknown studies, URLs and methods -----------------------------------------------------

UNKNOWN_STUDY_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/studies/no-such-study", {}),
    ("PATCH", "/studies/no-such-study", {"json": {"title": "x"}}),
    ("POST", "/studies/no-such-study/survey-key", {}),
    ("GET", "/studies/no-such-study/participants", {}),
    ("GET", "/studies/no-such-study/participants.csv", {}),
    ("GET", "/studies/no-such-study/participants/w-1", {}),
    ("POST", "/studies/no-such-study/participants/w-1/start", {"json": {}}),
    ("GET", "/studies/no-such-study/participants/w-1/start", {}),
    ("GET", "/studies/no-such-study/participants/w-1/state", {}),
    ("PUT", "/studies/no-such-study/participants/w-1/state", {"json": {"a": 1}}),
    ("PATCH", "/studies/no-such-study/participants/w-1/state", {"json": {"a": 1}}),
    ("POST", "/studies/no-such-study/participants/w-1/complete", {}),
    ("GET", "/studies/no-such-study/codes/verify", {"params": {"code": "ABC123"}}),
    ("POST", "/studies/no-such-study/codes/verify", {"json": {"code": "ABC123"}}),
    ("GET", "/studies/no-such-study/eligibility", {"params": {"worker_id": "w-1"}}),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    UNKNOWN_STUDY_CALLS,
    ids=[f"{m} {p.removeprefix('/studies/no-such-study')}" for m, p, _ in UNKNOWN_STUDY_CALLS],
)
def test_unknown_study_with_an_admin_key_is_404_study_not_found(world, method, path, kwargs):
    before = world.record()
    response = world.admin.request(method, path, **kwargs)
    body = assert_error(response, 404, "study_not_found")
    assert "no-such-study" in body["message"]
    assert world.record() == before


@pytest.mark.parametrize(
    "path",
    [
        "/nothing-here",
        "/studies/{slug}/nothing-here",
        "/studies/{slug}/codes",
        "/v2/studies",
    ],
)
@pytest.mark.parametrize("who", ["admin", "page"])
def test_unknown_url_under_the_api_is_404_json(world, path, who):
    client = world.admin if who == "admin" else world.page
    response = client.get(path.format(slug=world.slug))
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/studies/{slug}/participants/w-held/start", {"GET", "POST"}),
        ("PUT", "/studies/{slug}/participants/w-held/start", {"GET", "POST"}),
        ("PATCH", "/studies/{slug}/participants/w-held/complete", {"POST"}),
        ("POST", "/studies/{slug}/participants/w-held/state", {"GET", "PUT", "PATCH"}),
        ("DELETE", "/studies/{slug}", {"GET", "PATCH"}),
        ("PUT", "/studies", {"GET", "POST"}),
        ("POST", "/studies/{slug}/participants.csv", {"GET"}),
        ("GET", "/studies/{slug}/survey-key", {"POST"}),
    ],
)
def test_wrong_method_is_405_json_with_allow(world, method, path, allowed):
    before = world.record()
    response = world.admin.request(method, path.format(slug=world.slug), json={})
    assert_error(response, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert method not in response.headers["Allow"]
    assert world.record() == before


# --- bodies that are too large -------------------------------------------------------------


def _padded_json(fields: dict[str, Any], size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes: ``fields`` then whitespace."""
    text = json.dumps(fields).encode()
    assert len(text) < size
    return text[:-1] + b" " * (size - len(text)) + b"}"


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_body_over_one_mib_is_413_and_writes_nothing(world, endpoint):
    bodies = {
        "start": {"assignment_id": "asg-1"},
        "state_put": {"trial": 2},
        "state_patch": {"trial": 2},
        "complete": {},
        "verify": {"code": "ABC123", "worker_id": "w-held"},
        "study_create": {"slug": "too-large", "platform": "none"},
        "study_patch": {"title": "too large"},
    }
    before = world.record()
    response = world.send(endpoint, data=_padded_json(bodies[endpoint], MAX_BODY + 1), headers=JSON)
    body = assert_error(response, 413, "payload_too_large")
    assert str(MAX_BODY) in body["message"]
    assert world.record() == before


def test_body_of_exactly_one_mib_is_accepted(world):
    response = world.send(
        "start", data=_padded_json({"assignment_id": "asg-1"}, MAX_BODY), headers=JSON
    )
    assert response.status_code == 200, response.text
    assert response.json()["assignment_id"] == "asg-1"


def test_form_body_over_one_mib_is_413(world):
    before = world.record()
    response = world.page.post(
        f"/studies/{world.slug}/participants/w-new/start",
        data={"assignment_id": "asg-1", "padding": "x" * MAX_BODY},
    )
    assert_error(response, 413, "payload_too_large")
    assert world.record() == before


def test_multipart_body_over_one_mib_with_the_key_in_the_form_is_413(world):
    # The rate limiter reads the key from the form before the view sets the body limit.
    anonymous = ApiClient(world.page.base_url)
    before = world.record()
    response = anonymous.post(
        f"/studies/{world.slug}/participants/w-new/start",
        data={"key": world.page.survey_key},
        files={"blob": ("blob.bin", b"x" * (2 * MAX_BODY))},
    )
    anonymous.close()
    assert_error(response, 413, "payload_too_large")
    assert world.record() == before


# --- creating and changing studies ---------------------------------------------------------

MISSING = object()
BAD_STUDY_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"slug": "Upper-Case"}, "slug", "upper-case slug"),
    ({"slug": "-leading-dash"}, "slug", "leading dash"),
    ({"slug": "has space"}, "slug", "space in slug"),
    ({"slug": "under_score"}, "slug", "underscore in slug"),
    ({"slug": "a" * 65}, "slug", "65-character slug"),
    ({"slug": ""}, "slug", "empty slug"),
    ({"slug": 17}, "slug", "numeric slug"),
    ({"slug": None}, "slug", "null slug"),
    ({"slug": MISSING}, "slug", "missing slug"),
    ({"platform": "amazon"}, "platform", "unknown platform"),
    ({"platform": "MTurk"}, "platform", "platform in the wrong case"),
    ({"mode": "production"}, "mode", "unknown mode"),
    (
        {"conditions": [{"name": "a", "target": 1}, {"name": "a", "target": 2}]},
        "conditions",
        "duplicate condition names",
    ),
    ({"conditions": [{"name": "a", "target": 0}]}, "conditions.0.target", "target 0"),
    ({"conditions": [{"name": "a", "target": -3}]}, "conditions.0.target", "negative target"),
    ({"conditions": [{"name": "a", "target": "3"}]}, "conditions.0.target", "string target"),
    ({"conditions": [{"name": "a", "target": 2.5}]}, "conditions.0.target", "fractional target"),
    ({"conditions": [{"name": "a", "target": True}]}, "conditions.0.target", "boolean target"),
    ({"conditions": [{"name": "a"}]}, "conditions.0.target", "missing target"),
    ({"conditions": [{"target": 3}]}, "conditions.0.name", "missing name"),
    ({"conditions": [{"name": "", "target": 3}]}, "conditions.0.name", "empty name"),
    (
        {"conditions": [{"name": "a", "target": 3, "weight": 2}]},
        "conditions.0.weight",
        "unknown condition field",
    ),
    ({"conditions": {"a": 3}}, "conditions", "conditions not a list"),
    ({"lease_minutes": 0}, "lease_minutes", "lease 0"),
    ({"lease_minutes": 7 * 24 * 60 + 1}, "lease_minutes", "lease over a week"),
    ({"lease_minutes": "60"}, "lease_minutes", "string lease"),
    ({"allow_repeats": "maybe"}, "allow_repeats", "allow_repeats not a boolean"),
    ({"allowed_origins": ["https://x.org/path"]}, "allowed_origins.0", "origin with a path"),
    ({"allowed_origins": ["https://x.org/"]}, "allowed_origins.0", "origin with a slash"),
    ({"allowed_origins": ["x.org"]}, "allowed_origins.0", "origin without a scheme"),
    ({"allowed_origins": ["ftp://x.org"]}, "allowed_origins.0", "origin with another scheme"),
    ({"allowed_origins": "https://x.org"}, "allowed_origins", "origins not a list"),
    ({"title": "t" * 301}, "title", "title over 300 characters"),
    ({"title": None}, "title", "null title"),
]


@pytest.mark.parametrize(
    ("fields", "field"),
    [(f, n) for f, n, _ in BAD_STUDY_FIELDS],
    ids=[what for _, _, what in BAD_STUDY_FIELDS],
)
def test_study_create_with_a_bad_field_is_422_naming_it(world, fields, field):
    before = world.record()
    body = {name: v for name, v in {"slug": "bad-study", **fields}.items() if v is not MISSING}
    response = world.send("study_create", json=body)
    assert_error(response, 422, "validation_error", field=field)
    assert world.record() == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [(f, n) for f, n, _ in BAD_STUDY_FIELDS if "slug" not in f and "slug" != n],
    ids=[what for f, n, what in BAD_STUDY_FIELDS if "slug" not in f and "slug" != n],
)
def test_study_patch_with_a_bad_field_is_422_and_leaves_the_study(world, fields, field):
    before = world.record()
    response = world.send("study_patch", json=fields)
    assert_error(response, 422, "validation_error", field=field)
    assert world.record() == before
    assert world.admin.get(f"/studies/{world.slug}").json()["conditions"] == [
        {"name": "a", "target": 2},
        {"name": "b", "target": 2},
    ]


def test_study_patch_cannot_change_the_slug(world):
    before = world.record()
    response = world.send("study_patch", json={"slug": "renamed"})
    assert_error(response, 422, "validation_error", field="slug")
    assert world.record() == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"slug": "trailing-newline\n"}, "slug"),
        ({"slug": "origin-newline", "allowed_origins": ["https://x.org\n"]}, "allowed_origins.0"),
    ],
    ids=["slug", "origin"],
)
def test_study_create_refuses_a_trailing_newline(world, fields, field):
    before = world.record()
    response = world.send("study_create", json=fields)
    assert_error(response, 422, "validation_error", field=field)
    assert world.record() == before


def test_duplicate_slug_is_409_slug_taken_and_keeps_the_first_study(world):
    before = world.record()
    response = world.send(
        "study_create", json={"slug": world.slug, "title": "impostor", "platform": "mturk"}
    )
    assert_error(response, 409, "slug_taken", field="slug")
    assert world.record() == before
    kept = world.admin.get(f"/studies/{world.slug}").json()
    assert kept["platform"] == "none" and kept["title"] == ""


@pytest.mark.parametrize("endpoint", ["study_create", "study_patch"])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"data": {"slug": "form-study", "title": "x"}}, None),
        ({"data": b'{"slug": "form-study", "title": "x"}'}, "text/plain"),
        ({"data": b'{"slug": "form-study", "title": "x"}'}, None),
    ],
    ids=["form-encoded", "text-plain", "no-content-type"],
)
def test_study_body_that_is_not_json_is_415(world, endpoint, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    before = world.record()
    response = world.send(endpoint, headers=headers, **body)
    assert_error(response, 415, "unsupported_media_type")
    assert world.record() == before


# --- pages and filters ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/studies", "/studies/{slug}/participants"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=1001", "limit"),
        ("limit=5000", "limit"),
        ("limit=ten", "limit"),
        ("limit=2.5", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=-1", "cursor"),
        ("cursor=1.5", "cursor"),
    ],
)
def test_bad_pagination_is_422_naming_the_parameter(world, path, query, field):
    response = world.admin.get(f"{path.format(slug=world.slug)}?{query}")
    assert_error(response, 422, "validation_error", field=field)


@pytest.mark.parametrize("path", ["/studies", "/studies/{slug}/participants"])
@pytest.mark.parametrize("cursor", ["²", "9" * 30], ids=["superscript-two", "30-digits"])
def test_cursor_the_service_never_handed_out_is_422(world, path, cursor):
    response = world.admin.get(path.format(slug=world.slug), params={"cursor": cursor})
    assert_error(response, 422, "validation_error", field="cursor")


@pytest.mark.parametrize("path", ["/participants", "/participants.csv"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=finished", "status"),
        ("status=STARTED", "status"),
        ("status=", "status"),
        ("condition=", "condition"),
        ("condition=" + "c" * 101, "condition"),
    ],
)
def test_bad_participant_filter_is_422_naming_it(world, path, query, field):
    response = world.admin.get(f"/studies/{world.slug}{path}?{query}")
    assert_error(response, 422, "validation_error", field=field)
