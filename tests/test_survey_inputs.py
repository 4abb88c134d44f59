"""What survey tools send and get back: query strings, forms, JSON, flat answers, state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.http import assert_error

MAX_STATE_BYTES = 64 * 1024


def _assert_flat(body: Any) -> None:
    """A flat JSON object: Qualtrics maps each top-level field to one embedded-data field."""
    assert isinstance(body, dict), body
    nested = {name: value for name, value in body.items() if isinstance(value, dict | list)}
    assert not nested, nested


def _compact_size(state: dict[str, Any]) -> int:
    return len(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _state_of_size(size: int) -> dict[str, Any]:
    """A state whose compact UTF-8 JSON takes exactly ``size`` bytes, with multi-byte text."""
    # "é" takes 2 bytes and "😀" 4 in UTF-8 (12 as JSON escapes): the size is counted in
    # UTF-8 bytes of compact JSON, not in characters or escaped ASCII.
    state: dict[str, Any] = {"trial": 12, "words": "é" * 100 + "😀" * 50, "blob": ""}
    state["blob"] = "x" * (size - _compact_size(state))
    assert _compact_size(state) == size
    return state


def _send_json(page, method: str, path: str, state: dict[str, Any]):
    # Sent as UTF-8 rather than requests' ASCII escapes, as a browser's fetch would.
    body = json.dumps(state, ensure_ascii=False).encode("utf-8")
    return page.request(method, path, data=body, headers={"Content-Type": "application/json"})


@pytest.fixture
def study_page(make_study):
    return make_study(conditions=[{"name": "control", "target": 10}])


# --- start: query string, form and JSON -----------------------------------------------------


def test_qualtrics_style_get_start_with_query_parameters(study_page, anonymous, admin):
    study, page = study_page
    response = anonymous.get(
        f"/studies/{study['slug']}/participants/A1B2C3/start",
        params={"assignment_id": "asg-1", "hit_id": "hit-1", "key": page.survey_key},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _assert_flat(body)
    assert body["worker_id"] == "A1B2C3"
    assert body["assignment_id"] == "asg-1"
    assert body["hit_id"] == "hit-1"
    assert body["status"] == "started"
    assert body["condition"] == "control"
    assert body["resumed"] is False
    assert page.survey_key not in response.text

    stored = admin.get(f"/studies/{study['slug']}/participants/A1B2C3").json()
    assert (stored["assignment_id"], stored["hit_id"]) == ("asg-1", "hit-1")
    assert page.survey_key not in json.dumps(stored)

    again = anonymous.get(
        f"/studies/{study['slug']}/participants/A1B2C3/start",
        params={"assignment_id": "asg-1", "key": page.survey_key},
    )
    assert again.json()["resumed"] is True


def test_get_start_with_an_unknown_parameter_is_422(study_page):
    study, page = study_page
    response = page.get(
        f"/studies/{study['slug']}/participants/w-1/start", params={"assignmentid": "typo"}
    )
    assert_error(response, 422, "validation_error", field="assignmentid")


def test_form_encoded_post_start(study_page, anonymous):
    study, page = study_page
    response = anonymous.post(
        f"/studies/{study['slug']}/participants/w-1/start",
        data={"key": page.survey_key, "assignment_id": "asg-1", "session_id": "sess-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _assert_flat(body)
    assert (body["assignment_id"], body["session_id"], body["hit_id"]) == ("asg-1", "sess-1", None)


def test_json_post_start(study_page):
    study, page = study_page
    response = page.post(
        f"/studies/{study['slug']}/participants/w-1/start",
        json={"assignment_id": "asg-1", "hit_id": "hit-1", "session_id": "sess-1"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    _assert_flat(body)
    assert (body["assignment_id"], body["hit_id"], body["session_id"]) == (
        "asg-1",
        "hit-1",
        "sess-1",
    )
    assert body["attempt"] == 1 and body["resumed"] is False


def test_json_start_with_a_non_string_id_is_422(study_page):
    study, page = study_page
    response = page.post(
        f"/studies/{study['slug']}/participants/w-1/start", json={"assignment_id": 7}
    )
    assert_error(response, 422, "validation_error", field="assignment_id")


# --- state: forms, replace, merge -----------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_form_encoded_state_values_become_strings(study_page, method):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    response = page.request(method, f"{base}/state", data={"trial": 3, "done": True, "rt": 1.5})
    assert response.status_code == 200, response.text
    expected = {"trial": "3", "done": "True", "rt": "1.5"}
    assert response.json() == expected
    assert page.get(f"{base}/state").json() == expected


def test_put_replaces_the_state(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    first = {"a": 1, "nested": {"b": [1, 2, {"c": None}]}, "text": "ü"}
    assert page.put(f"{base}/state", json=first).json() == first
    assert page.get(f"{base}/state").json() == first
    assert page.put(f"{base}/state", json={"z": True}).json() == {"z": True}
    assert page.get(f"{base}/state").json() == {"z": True}
    assert page.put(f"{base}/state", json={}).json() == {}
    assert page.get(f"{base}/state").json() == {}


def test_patch_merges_top_level_keys_and_null_removes(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    page.put(f"{base}/state", json={"a": 1, "b": {"x": 1, "y": 2}, "c": "keep"})

    merged = page.patch(f"{base}/state", json={"a": 2, "b": {"x": 9}, "d": [1]})
    # Top-level merge only: "b" is replaced whole, not merged into.
    expected = {"a": 2, "b": {"x": 9}, "c": "keep", "d": [1]}
    assert merged.json() == expected
    assert page.get(f"{base}/state").json() == expected

    removed = page.patch(f"{base}/state", json={"a": None, "missing": None})
    assert removed.json() == {"b": {"x": 9}, "c": "keep", "d": [1]}
    assert page.get(f"{base}/state").json() == {"b": {"x": 9}, "c": "keep", "d": [1]}


def test_put_keeps_a_null_value(study_page):
    # Only PATCH gives null its "remove" meaning; a replaced state holds what was sent.
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    assert page.put(f"{base}/state", json={"a": None, "b": 1}).json() == {"a": None, "b": 1}
    assert page.get(f"{base}/state").json() == {"a": None, "b": 1}


def test_json_state_keeps_a_field_named_key(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    saved = page.put(f"{base}/state", json={"key": "f", "rt": 412})
    assert saved.status_code == 200, saved.text
    assert page.get(f"{base}/state").json() == {"key": "f", "rt": 412}


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3", "null"])
def test_state_body_must_be_a_json_object(study_page, body):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    page.put(f"{base}/state", json={"a": 1})
    response = page.put(f"{base}/state", data=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "body_not_object")
    assert page.get(f"{base}/state").json() == {"a": 1}


def test_malformed_json_state_is_400_and_changes_nothing(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    page.put(f"{base}/state", json={"a": 1})
    response = page.put(
        f"{base}/state", data='{"a": 2', headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "malformed_json")
    assert page.get(f"{base}/state").json() == {"a": 1}


# --- the 64 KiB state limit -----------------------------------------------------------------


def test_state_of_exactly_64_kib_is_accepted(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    state = _state_of_size(MAX_STATE_BYTES)
    response = _send_json(page, "PUT", f"{base}/state", state)
    assert response.status_code == 200, response.text[:300]
    assert response.json() == state
    assert page.get(f"{base}/state").json() == state


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_state_one_byte_over_64_kib_is_413_and_nothing_is_written(study_page, method):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    before = {"trial": 1, "answers": ["a", "b"]}
    page.put(f"{base}/state", json=before)

    too_large = _state_of_size(MAX_STATE_BYTES + 1)
    if method == "PATCH":
        # The merged state (old keys included) must fit; make it exactly one byte over.
        excess = _compact_size({**before, **too_large}) - (MAX_STATE_BYTES + 1)
        too_large["blob"] = too_large["blob"][: len(too_large["blob"]) - excess]
        assert _compact_size({**before, **too_large}) == MAX_STATE_BYTES + 1
    response = _send_json(page, method, f"{base}/state", too_large)
    assert_error(response, 413, "state_too_large")
    assert page.get(f"{base}/state").json() == before


def test_patch_that_grows_the_state_past_64_kib_is_413(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    page.post(f"{base}/start")
    full = _state_of_size(MAX_STATE_BYTES)
    assert _send_json(page, "PUT", f"{base}/state", full).status_code == 200
    # Each part fits alone; together they do not.
    assert_error(page.patch(f"{base}/state", json={"more": 1}), 413, "state_too_large")
    assert page.get(f"{base}/state").json() == full
    # Removing a key to make room is allowed.
    shrunk = page.patch(f"{base}/state", json={"words": None, "more": 1})
    assert shrunk.status_code == 200, shrunk.text[:300]
    assert "words" not in shrunk.json() and shrunk.json()["more"] == 1


# --- state before start ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH"])
def test_state_before_start_is_404_participant_not_found(study_page, method):
    study, page = study_page
    kwargs = {} if method == "GET" else {"json": {"a": 1}}
    response = page.request(method, f"/studies/{study['slug']}/participants/w-1/state", **kwargs)
    assert_error(response, 404, "participant_not_found")


def test_state_write_before_start_does_not_create_the_participant(study_page, admin):
    study, page = study_page
    page.put(f"/studies/{study['slug']}/participants/w-1/state", json={"a": 1})
    assert admin.get(f"/studies/{study['slug']}/participants").json()["items"] == []
    started = page.post(f"/studies/{study['slug']}/participants/w-1/start").json()
    assert started["resumed"] is False
    assert page.get(f"/studies/{study['slug']}/participants/w-1/state").json() == {}


def test_complete_before_start_is_404_participant_not_found(study_page):
    study, page = study_page
    response = page.post(f"/studies/{study['slug']}/participants/w-1/complete")
    assert_error(response, 404, "participant_not_found")


# --- flat answers ---------------------------------------------------------------------------


def test_survey_answers_are_flat_objects(study_page, admin):
    study, page = study_page
    slug = study["slug"]
    base = f"/studies/{slug}/participants/w-1"

    eligibility = page.get(f"/studies/{slug}/eligibility", params={"worker_id": "w-1"})
    started = page.post(f"{base}/start", json={"assignment_id": "asg-1"})
    page.put(f"{base}/state", json={"nested": {"a": [1, 2]}})
    completed = page.post(f"{base}/complete")
    completed_again = page.post(f"{base}/complete")
    code = completed.json()["completion_code"]
    answers = {
        "eligibility": eligibility,
        "start": started,
        "resume": page.get(f"{base}/start"),
        "complete": completed,
        "complete again": completed_again,
        "eligibility after": page.get(
            f"/studies/{slug}/eligibility", params={"worker_id": "w-1", "assignment_id": "asg-2"}
        ),
        "verify GET": page.get(
            f"/studies/{slug}/codes/verify", params={"code": code, "worker_id": "w-1"}
        ),
        "verify POST": page.post(
            f"/studies/{slug}/codes/verify", json={"code": code, "worker_id": "w-1"}
        ),
        "verify other": page.get(
            f"/studies/{slug}/codes/verify", params={"code": code, "worker_id": "w-2"}
        ),
        "admin verify": admin.get(f"/studies/{slug}/codes/verify", params={"code": code}),
        "admin verify other": admin.get(
            f"/studies/{slug}/codes/verify", params={"code": code, "worker_id": "w-2"}
        ),
    }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        _assert_flat(response.json())
    assert completed_again.json()["completion_code"] == code


def test_form_encoded_complete_and_verify(study_page, anonymous):
    study, page = study_page
    slug = study["slug"]
    page.post(f"/studies/{slug}/participants/w-1/start")
    completed = anonymous.post(
        f"/studies/{slug}/participants/w-1/complete", data={"key": page.survey_key}
    )
    assert completed.status_code == 200, completed.text
    code = completed.json()["completion_code"]
    verified = anonymous.post(
        f"/studies/{slug}/codes/verify",
        data={"key": page.survey_key, "code": code, "worker_id": "w-1"},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"valid": True, "worker_id": "w-1"}


# --- status history -------------------------------------------------------------------------


def test_every_status_change_is_stored_with_its_time(study_page, admin, clock):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    started_at = clock.now
    page.post(f"{base}/start")
    clock.advance(minutes=7, seconds=3)
    page.patch(f"{base}/state", json={"a": 1})  # not a status change
    completed_at = clock.advance(minutes=5)
    page.post(f"{base}/complete")
    clock.advance(minutes=1)
    page.post(f"{base}/complete")  # a repeated complete changes nothing

    detail = admin.get(f"/studies/{study['slug']}/participants/w-1")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    events = [(e["status"], datetime.fromisoformat(e["at"])) for e in body["events"]]
    assert events == [("started", started_at), ("completed", completed_at)]
    assert datetime.fromisoformat(body["started_at"]) == started_at
    assert datetime.fromisoformat(body["completed_at"]) == completed_at
    assert body["status"] == "completed"


# --- request ids ----------------------------------------------------------------------------


def test_callers_request_id_is_echoed(study_page):
    study, page = study_page
    base = f"/studies/{study['slug']}/participants/w-1"
    ok = page.post(f"{base}/start", headers={"X-Request-ID": "qualtrics-run.42_a"})
    assert ok.status_code == 200
    assert ok.headers["X-Request-ID"] == "qualtrics-run.42_a"

    failed = page.get(
        "/studies/other-study/participants/w-1/state", headers={"X-Request-ID": "page-err-1"}
    )
    body = assert_error(failed, 403, "wrong_study")
    assert failed.headers["X-Request-ID"] == "page-err-1"
    assert body["request_id"] == "page-err-1"


def test_request_id_is_made_when_missing_or_unusable(study_page):
    study, page = study_page
    url = f"/studies/{study['slug']}/participants/w-1/start"
    made = page.post(url).headers["X-Request-ID"]
    assert made
    assert page.post(url).headers["X-Request-ID"] != made
    for unusable in ("has spaces in it", "x" * 65, "semi;colon"):
        echoed = page.post(url, headers={"X-Request-ID": unusable}).headers["X-Request-ID"]
        assert echoed and echoed != unusable
