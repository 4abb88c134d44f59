"""What the API answers, as frozen dataclasses parsed from its JSON.

Each model follows one of the service's response schemas field by field. Fields the
SDK does not know yet (a newer service) land in ``extra`` instead of breaking the
parse, so an old SDK keeps working against a newer server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self, TypeAlias

Platform: TypeAlias = Literal["none", "prolific", "mturk"]
Mode: TypeAlias = Literal["sandbox", "live"]
Status: TypeAlias = Literal[
    "started", "completed", "submitted", "approved", "rejected", "returned", "abandoned"
]

JSONObject: TypeAlias = Mapping[str, Any]


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 timestamp as an aware datetime; a naive one is taken to be UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _optional_datetime(value: str | None) -> datetime | None:
    return None if value is None else parse_datetime(value)


def _extra(model: type[Any], data: JSONObject) -> dict[str, Any]:
    """The fields of ``data`` that ``model`` does not know, kept instead of refused."""
    known = {f.name for f in dataclasses.fields(model)}
    return {key: value for key, value in data.items() if key not in known}


@dataclass(frozen=True, eq=False)
class State(Mapping[str, Any]):
    """A participant's free-form state: a read-only mapping of the JSON object.

    It compares equal to a dict with the same items, so ``state == {"block": 2}``
    reads naturally; ``to_dict()`` gives a copy to change and send back.
    """

    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(dict(data))

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"State({dict(self.data)!r})"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class Condition:
    """One of a study's conditions and how many participants it wants."""

    name: str
    target: int

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(name=data["name"], target=data["target"])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target}


@dataclass(frozen=True, kw_only=True)
class Study:
    """A study's settings, as ``GET /studies/{slug}`` answers them."""

    slug: str
    title: str
    platform: str
    mode: str
    conditions: tuple[Condition, ...]
    lease_minutes: int
    allow_repeats: bool
    allowed_origins: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    #: The platform postings (MTurk HITs) that sync reads.
    hit_ids: tuple[str, ...] = ()
    #: The HIT's answer field holding the code workers type (MTurk: ``surveycode``).
    code_answer_field: str = "surveycode"
    #: The qualification that marks the study's workers (set by micro-batched HITs).
    exclusion_qualification_id: str | None = None
    #: Exclusion groups whose members may not start.
    exclusion_groups: tuple[str, ...] = ()
    #: Groups a worker must belong to (every one) to start.
    include_groups: tuple[str, ...] = ()
    #: Groups the study's participants join (set on each group's ``record_studies``).
    recorded_in: tuple[str, ...] = ()
    #: The completion code the platform expects (Prolific's study completion code).
    platform_completion_code: str | None = None
    #: Where ``complete`` sends participants: a URL template with optional
    #: ``{completion_code}``, ``{worker_id}`` and ``{study}`` placeholders.
    completion_redirect_url: str | None = None
    #: The study has its own platform token (the service never shows it).
    platform_token_set: bool = False
    #: The study's own platform workspace (Prolific), else None.
    platform_workspace_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def _fields(cls, data: JSONObject) -> dict[str, Any]:
        return {
            "slug": data["slug"],
            "title": data.get("title", ""),
            "platform": data["platform"],
            "mode": data["mode"],
            "conditions": tuple(Condition.from_json(c) for c in data.get("conditions", ())),
            "lease_minutes": data["lease_minutes"],
            "allow_repeats": data["allow_repeats"],
            "allowed_origins": tuple(data.get("allowed_origins", ())),
            "created_at": parse_datetime(data["created_at"]),
            "updated_at": parse_datetime(data["updated_at"]),
            "hit_ids": tuple(data.get("hit_ids") or ()),
            "code_answer_field": data.get("code_answer_field") or "surveycode",
            "exclusion_qualification_id": data.get("exclusion_qualification_id"),
            "exclusion_groups": tuple(data.get("exclusion_groups") or ()),
            "include_groups": tuple(data.get("include_groups") or ()),
            "recorded_in": tuple(data.get("recorded_in") or ()),
            "platform_completion_code": data.get("platform_completion_code"),
            "completion_redirect_url": data.get("completion_redirect_url"),
            "platform_token_set": bool(data.get("platform_token_set")),
            "platform_workspace_id": data.get("platform_workspace_id"),
        }

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(**cls._fields(data), extra=_extra(cls, data))


@dataclass(frozen=True, kw_only=True)
class CreatedStudy(Study):
    """A study just created, with its survey key: the only time the service shows it."""

    survey_key: str

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            **cls._fields(data),
            survey_key=data["survey_key"],
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class SurveyKey:
    """A study's new survey key after rotation; the old key stopped working."""

    slug: str
    survey_key: str
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            slug=data["slug"],
            survey_key=data["survey_key"],
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class ParticipantEvent:
    """One change of a participant's status, and when it happened."""

    status: str
    at: datetime
    detail: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            status=data["status"],
            at=parse_datetime(data["at"]),
            detail=data.get("detail") or "",
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Participant:
    """A participant's latest attempt at a study, as the admin's list shows it."""

    worker_id: str
    attempt: int
    assignment_id: str | None
    hit_id: str | None
    session_id: str | None
    condition: str | None
    status: str
    completion_code: str | None
    state: State
    lease_expires_at: datetime | None
    started_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    #: From the platform, after a sync: its status word, the code typed, the answers.
    platform_status: str | None = None
    submitted_code: str | None = None
    answers: Mapping[str, Any] | None = None
    submitted_at: datetime | None = None
    reviewed_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def _fields(cls, data: JSONObject) -> dict[str, Any]:
        return {
            "worker_id": data["worker_id"],
            "attempt": data["attempt"],
            "assignment_id": data.get("assignment_id"),
            "hit_id": data.get("hit_id"),
            "session_id": data.get("session_id"),
            "condition": data.get("condition"),
            "status": data["status"],
            "completion_code": data.get("completion_code"),
            "state": State.from_json(data.get("state") or {}),
            "lease_expires_at": _optional_datetime(data.get("lease_expires_at")),
            "started_at": parse_datetime(data["started_at"]),
            "completed_at": _optional_datetime(data.get("completed_at")),
            "updated_at": parse_datetime(data["updated_at"]),
            "platform_status": data.get("platform_status"),
            "submitted_code": data.get("submitted_code"),
            "answers": data.get("answers"),
            "submitted_at": _optional_datetime(data.get("submitted_at")),
            "reviewed_at": _optional_datetime(data.get("reviewed_at")),
        }

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(**cls._fields(data), extra=_extra(cls, data))


@dataclass(frozen=True, kw_only=True)
class ParticipantDetail(Participant):
    """One participant with ``events``: every status change, oldest first."""

    events: tuple[ParticipantEvent, ...] = ()

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            **cls._fields(data),
            events=tuple(ParticipantEvent.from_json(e) for e in data.get("events", ())),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class StartResult:
    """What start answers: the participant's condition, and whether they resumed."""

    worker_id: str
    status: str
    condition: str | None
    resumed: bool
    attempt: int
    assignment_id: str | None = None
    hit_id: str | None = None
    session_id: str | None = None
    lease_expires_at: datetime | None = None
    #: Set when a worker who already completed starts again.
    completion_code: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            worker_id=data["worker_id"],
            status=data["status"],
            condition=data.get("condition"),
            resumed=data["resumed"],
            attempt=data["attempt"],
            assignment_id=data.get("assignment_id"),
            hit_id=data.get("hit_id"),
            session_id=data.get("session_id"),
            lease_expires_at=_optional_datetime(data.get("lease_expires_at")),
            completion_code=data.get("completion_code"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class CompletionResult:
    """What complete answers: the participant's completion code (the same on every call)
    and ``redirect_url``, where the page sends the participant (None: nowhere set)."""

    worker_id: str
    status: str
    condition: str | None
    completion_code: str
    redirect_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            worker_id=data["worker_id"],
            status=data["status"],
            condition=data.get("condition"),
            completion_code=data["completion_code"],
            redirect_url=data.get("redirect_url"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    """Whether a completion code is valid.

    ``reason`` is set when it is not (``no_match``; with an admin key ``unknown_code``
    or ``other_worker``). Only an admin key learns ``status``, ``condition`` and, for
    another worker's code, ``code_worker_id``.
    """

    valid: bool
    worker_id: str | None
    reason: str | None = None
    code_worker_id: str | None = None
    status: str | None = None
    condition: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            valid=data["valid"],
            worker_id=data.get("worker_id"),
            reason=data.get("reason"),
            code_worker_id=data.get("code_worker_id"),
            status=data.get("status"),
            condition=data.get("condition"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Eligibility:
    """Whether a worker may start; ``reason`` is new, resume, repeats_allowed or
    already_participated."""

    worker_id: str
    eligible: bool
    reason: str
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            worker_id=data["worker_id"],
            eligible=data["eligible"],
            reason=data["reason"],
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Health:
    """The service's health: ``status`` is ``ok`` when it can reach its database."""

    status: str
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(status=data["status"], extra=_extra(cls, data))

    @property
    def ok(self) -> bool:
        return self.status == "ok"
