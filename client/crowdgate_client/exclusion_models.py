"""Answers of the exclusion-group operations (groups, members, changes, sync plans) as
dataclasses.

An exclusion group is the lab's participation record: a named set of workers that
outlives any study or HIT, each membership with where it came from and when.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Self, TypeAlias

from crowdgate_client.models import JSONObject, _extra, _optional_datetime, parse_datetime

#: When a recorded study's participant joins the group: at ``/start``, at
#: ``/complete`` (or when sync finds a submission), or only when sync finds a submission.
RecordWhen: TypeAlias = Literal["started", "completed", "submitted"]
#: What an uploaded file's workers do to the group.
FileAction: TypeAlias = Literal["add", "remove"]


@dataclass(frozen=True, kw_only=True)
class GroupBinding:
    """The platform qualification a group is synced to: on MTurk a qualification type,
    on Prolific a participant group (the service names both ``qualification_*``)."""

    platform: str
    mode: str
    #: The MTurk qualification type id, or the Prolific participant group id.
    qualification_type_id: str
    #: Set when the group was bound by name (``mturk_qualification_name`` or
    #: ``prolific_group_name``).
    qualification_name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def prolific_group_id(self) -> str | None:
        """The Prolific participant group, for a group bound on Prolific."""
        return self.qualification_type_id if self.platform == "prolific" else None

    @property
    def prolific_group_name(self) -> str | None:
        """The participant group's name, when the group was bound by name on Prolific."""
        return self.qualification_name if self.platform == "prolific" else None

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            platform=data["platform"],
            mode=data["mode"],
            qualification_type_id=data["qualification_type_id"],
            qualification_name=data.get("qualification_name"),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class ExclusionGroup:
    """A group's rule, binding and size, and the studies that use it."""

    name: str
    description: str = ""
    #: Studies whose participants join the group by themselves.
    record_studies: tuple[str, ...] = ()
    record_when: str = "started"
    #: Studies that refuse the group's members.
    excluding_studies: tuple[str, ...] = ()
    #: Studies that admit only the group's members.
    including_studies: tuple[str, ...] = ()
    #: Distinct workers.
    members: int = 0
    binding: GroupBinding | None = None
    #: The latest sync job, if any.
    sync_job_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def _fields(cls, data: JSONObject) -> dict[str, Any]:
        binding = data.get("binding")
        return {
            "name": data["name"],
            "description": data.get("description") or "",
            "record_studies": tuple(data.get("record_studies") or ()),
            "record_when": data.get("record_when") or "started",
            "excluding_studies": tuple(data.get("excluding_studies") or ()),
            "including_studies": tuple(data.get("including_studies") or ()),
            "members": data.get("members") or 0,
            "binding": GroupBinding.from_json(binding) if binding else None,
            "sync_job_id": data.get("sync_job_id"),
            "created_at": _optional_datetime(data.get("created_at")),
            "updated_at": _optional_datetime(data.get("updated_at")),
        }

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(**cls._fields(data), extra=_extra(cls, data))


@dataclass(frozen=True, kw_only=True)
class SavedExclusionGroup(ExclusionGroup):
    """The group a PUT left, and whether that PUT created it (201) or updated it (200)."""

    created: bool

    @classmethod
    def from_response(cls, data: JSONObject, *, created: bool) -> Self:
        return cls(**cls._fields(data), created=created, extra=_extra(cls, data))


@dataclass(frozen=True, kw_only=True)
class DeletedExclusionGroup:
    """A group that is gone, with its members."""

    name: str


@dataclass(frozen=True, kw_only=True)
class MemberSource:
    """One way a worker came into a group: ``workers`` (listed), ``hit:<id>``,
    ``study:<slug>`` or ``file:<name>``, and when."""

    source: str
    added_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            source=data["source"],
            added_at=parse_datetime(data["added_at"]),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class Member:
    """A worker in a group (its keyed hash in a hashed listing), with every source."""

    worker_id: str
    sources: tuple[MemberSource, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def first_added_at(self) -> datetime | None:
        return min((s.added_at for s in self.sources), default=None)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            worker_id=data["worker_id"],
            sources=tuple(MemberSource.from_json(s) for s in data.get("sources") or ()),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class KeptWorker:
    """A worker named for removal who stays a member, and why: ``added_in_this_request``
    (the same request added them too) or ``other_sources`` (something else put them in)."""

    worker_id: str
    reason: str
    #: The sources the worker is a member by now.
    sources: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            worker_id=data["worker_id"],
            reason=data["reason"],
            sources=tuple(data.get("sources") or ()),
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class HitWorkers:
    """A HIT whose workers were added, and how many workers the platform listed on it."""

    hit_id: str
    workers: int
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(hit_id=data["hit_id"], workers=data["workers"], extra=_extra(cls, data))


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """What the service read from an uploaded file: the column (or a plain list) and how
    many distinct workers."""

    name: str
    read_from: str
    workers: int
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            name=data["name"],
            read_from=data["read_from"],
            workers=data["workers"],
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class MemberChangeResult:
    """What one change of members did. Removals go first, so a worker a request both adds
    and removes stays a member and counts as ``kept``."""

    #: Workers who were not members before.
    added: int = 0
    #: Workers who are no longer members.
    removed: int = 0
    #: Workers named for removal who stay members (see ``kept_workers``, up to 100).
    kept: int = 0
    already_members: int = 0
    #: Removals of workers who were not members.
    not_members: int = 0
    #: Distinct workers after the change.
    members: int = 0
    kept_workers: tuple[KeptWorker, ...] = ()
    #: Removed HITs that had added nobody.
    unmatched_hit_ids: tuple[str, ...] = ()
    hits: tuple[HitWorkers, ...] = ()
    #: For uploads: what was read from the file.
    file: UploadedFile | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        file = data.get("file")
        return cls(
            added=data.get("added", 0),
            removed=data.get("removed", 0),
            kept=data.get("kept", 0),
            already_members=data.get("already_members", 0),
            not_members=data.get("not_members", 0),
            members=data.get("members", 0),
            kept_workers=tuple(KeptWorker.from_json(k) for k in data.get("kept_workers") or ()),
            unmatched_hit_ids=tuple(data.get("unmatched_hit_ids") or ()),
            hits=tuple(HitWorkers.from_json(h) for h in data.get("hits") or ()),
            file=UploadedFile.from_json(file) if file else None,
            extra=_extra(cls, data),
        )


@dataclass(frozen=True, kw_only=True)
class GroupSyncPlan:
    """What a sync would do (a dry run): the members, the qualification's holders now,
    and how many grants and revocations would make them match."""

    group: str
    platform: str
    mode: str
    qualification_type_id: str
    members: int
    #: Workers holding the qualification now.
    holders: int
    to_grant: int
    to_revoke: int
    #: Holders who are not members, kept because revoking was not asked for.
    left_alone: int
    already_granted: int
    #: Members whose ids the platform would refuse, left out of the plan.
    foreign_ids: int = 0
    #: The first 20 workers of each list.
    grant_sample: tuple[str, ...] = ()
    revoke_sample: tuple[str, ...] = ()
    dry_run: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: JSONObject) -> Self:
        return cls(
            group=data["group"],
            platform=data["platform"],
            mode=data["mode"],
            qualification_type_id=data["qualification_type_id"],
            members=data.get("members", 0),
            holders=data.get("holders", 0),
            to_grant=data.get("to_grant", 0),
            to_revoke=data.get("to_revoke", 0),
            left_alone=data.get("left_alone", 0),
            already_granted=data.get("already_granted", 0),
            foreign_ids=data.get("foreign_ids", 0),
            grant_sample=tuple(data.get("grant_sample") or ()),
            revoke_sample=tuple(data.get("revoke_sample") or ()),
            dry_run=data.get("dry_run", True),
            extra=_extra(cls, data),
        )


__all__ = [
    "DeletedExclusionGroup",
    "ExclusionGroup",
    "FileAction",
    "GroupBinding",
    "GroupSyncPlan",
    "HitWorkers",
    "KeptWorker",
    "Member",
    "MemberChangeResult",
    "MemberSource",
    "RecordWhen",
    "SavedExclusionGroup",
    "UploadedFile",
]
