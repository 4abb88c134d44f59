"""The SDK's models parse what the service answers, and what a newer service may add."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from crowdgate_client import ParticipantDetail, State, Study, VerifyResult

STUDY = {
    "slug": "memory-1",
    "title": "Memory span",
    "platform": "none",
    "mode": "sandbox",
    "conditions": [{"name": "short", "target": 50}],
    "lease_minutes": 60,
    "allow_repeats": False,
    "allowed_origins": [],
    "created_at": "2026-11-26T23:24:25.449468+00:00",
    "updated_at": "2026-11-26T23:24:25.449468+00:00",
}


def test_unknown_fields_are_kept_not_refused():
    newer = {**STUDY, "bonus_policy": {"max": 5}, "archived": False}
    study = Study.from_json(newer)
    assert study.extra == {"bonus_policy": {"max": 5}, "archived": False}
    assert study == Study.from_json(STUDY)  # extra does not take part in equality


def test_datetimes_are_aware():
    assert Study.from_json(STUDY).created_at == datetime(2026, 11, 26, 23, 24, 25, 449468, UTC)
    naive = Study.from_json({**STUDY, "created_at": "2026-11-26T23:24:25"})
    assert naive.created_at.tzinfo is UTC
    zulu = Study.from_json({**STUDY, "updated_at": "2026-11-26T23:24:25Z"})
    assert zulu.updated_at.utcoffset() == timedelta(0)
    offset = Study.from_json({**STUDY, "updated_at": "2026-11-27T01:24:25+02:00"})
    assert offset.updated_at == zulu.updated_at
    assert offset.updated_at.tzinfo == timezone(timedelta(hours=2))


def test_optional_fields_may_be_absent():
    result = VerifyResult.from_json({"valid": False, "reason": "no_match", "worker_id": "w"})
    assert (result.status, result.condition, result.code_worker_id) == (None, None, None)
    detail = ParticipantDetail.from_json(
        {
            "worker_id": "w",
            "attempt": 1,
            "status": "started",
            "started_at": "2026-11-26T23:24:25+00:00",
            "updated_at": "2026-11-26T23:24:25+00:00",
        }
    )
    assert detail.events == () and detail.state == {} and detail.completed_at is None


def test_state_is_a_read_only_mapping():
    state = State.from_json({"block": 2, "answers": [1, 2]})
    assert state == {"block": 2, "answers": [1, 2]} and len(state) == 2
    assert list(state) == ["block", "answers"] and state.get("missing") is None
    with pytest.raises(TypeError):
        state["block"] = 3  # type: ignore[index]
    copy = state.to_dict()
    copy["block"] = 3
    assert state["block"] == 2
