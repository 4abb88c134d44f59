"""``Client``'s exclusion-group calls: the groups, their members, exports and the sync to
a platform qualification.

A group is the lab's participation record. Members come from listed workers, from
HITs (read from the platform when they are added), from uploaded files and from the
studies that record into the group; each membership remembers its source, so removing
a HIT takes out what that HIT put in and nothing else. Syncing grants the group's
qualification without notifying anyone; revoking emails each worker on MTurk, so it
happens only with ``revoke=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from crowdgate_client._endpoints import covers, expand, json_object, paginate
from crowdgate_client._http import Transport
from crowdgate_client.csv_export import DEFAULT_CHUNK_SIZE, Destination, Progress, write_stream
from crowdgate_client.exclusion_models import (
    DeletedExclusionGroup,
    ExclusionGroup,
    FileAction,
    GroupSyncPlan,
    Member,
    MemberChangeResult,
    RecordWhen,
    SavedExclusionGroup,
)
from crowdgate_client.models import Mode, Platform
from crowdgate_client.platform_calls import UploadFile
from crowdgate_client.platform_models import Job

GROUPS = "/exclusions"
GROUP = "/exclusions/{name}"
MEMBERS = "/exclusions/{name}/members"
MEMBERS_FILE = "/exclusions/{name}/members/file"
MEMBERS_CSV = "/exclusions/{name}/members.csv"
GROUP_SYNC = "/exclusions/{name}/sync"
DEFAULT_PAGE_SIZE = 100
#: The arguments that bind a group, each to one platform's qualification or group.
BINDING_ARGUMENTS = frozenset(
    (
        "mturk_qualification_type_id",
        "mturk_qualification_name",
        "prolific_group_id",
        "prolific_group_name",
    )
)


class ExclusionCalls:
    """Mixed into ``Client``; needs its ``_transport``, ``wait_for_job`` and ``cancel_job``."""

    _transport: Transport
    wait_for_job: Callable[..., Job]
    cancel_job: Callable[[str], Job]

    def _group_json(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return json_object(self._transport.request(method, path, params=params, **kwargs))

    # --- groups -----------------------------------------------------------------------

    @covers(f"GET {GROUPS}")
    def exclusion_groups(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ExclusionGroup]:
        """Every exclusion group, oldest first, fetched ``page_size`` (1 to 1000) at a time."""
        return paginate(
            lambda params: self._group_json("GET", GROUPS, params),
            {"limit": page_size},
            ExclusionGroup.from_json,
        )

    @covers(f"GET {GROUP}")
    def get_exclusion_group(self, name: str) -> ExclusionGroup:
        """One group: its rule, binding, member count and the studies using it."""
        return ExclusionGroup.from_json(self._group_json("GET", expand(GROUP, name=name)))

    @covers(f"PUT {GROUP}")
    def put_exclusion_group(
        self,
        name: str,
        *,
        description: str | None = None,
        record_studies: Iterable[str] | None = None,
        record_when: RecordWhen | None = None,
        mturk_qualification_type_id: str | None = None,
        mturk_qualification_name: str | None = None,
        prolific_group_id: str | None = None,
        prolific_group_name: str | None = None,
        mode: Mode | None = None,
        unbind: bool = False,
    ) -> SavedExclusionGroup:
        """Create the group, or change the fields given (None leaves a field as it is).

        ``record_studies`` replaces the studies whose participants join by themselves
        (those they have already join now), when ``record_when`` says. Bind the group to
        an MTurk qualification by id, or by name (the requester's type of that name,
        created if there is none), or to a Prolific participant group by id, or by name
        (the workspace's group of that name, created if there is none), with ``mode``
        sandbox or live; ``unbind=True`` drops the binding. A group has one binding: the
        service refuses two at once (ValidationError naming the fields). ``.created`` says
        whether the group is new.
        """
        body: dict[str, Any] = {
            "description": description,
            "record_when": record_when,
            "mturk_qualification_type_id": mturk_qualification_type_id,
            "mturk_qualification_name": mturk_qualification_name,
            "prolific_group_id": prolific_group_id,
            "prolific_group_name": prolific_group_name,
            "mode": mode,
        }
        body = {key: value for key, value in body.items() if value is not None}
        if record_studies is not None:
            body["record_studies"] = _names(record_studies, "record_studies", "memory-1")
        if unbind:
            if set(body) & BINDING_ARGUMENTS:
                raise TypeError(
                    "unbind=True drops the binding: give no qualification or participant "
                    "group with it"
                )
            # Either platform's id field unbinds whatever the group is bound to.
            body["mturk_qualification_type_id"] = None
        response = self._transport.request("PUT", expand(GROUP, name=name), json=body)
        return SavedExclusionGroup.from_response(
            json_object(response), created=response.status_code == 201
        )

    @covers(f"DELETE {GROUP}")
    def delete_exclusion_group(self, name: str) -> DeletedExclusionGroup:
        """Delete the group and its members; ConflictError while a study excludes or
        requires it (the error's message names those studies)."""
        self._transport.request("DELETE", expand(GROUP, name=name))
        return DeletedExclusionGroup(name=name)

    # --- members ----------------------------------------------------------------------

    @covers(f"GET {MEMBERS}")
    def exclusion_members(
        self, name: str, *, hash_ids: bool = False, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Member]:
        """The group's members in worker id order, each with its sources and their times.

        With ``hash_ids=True`` worker ids come as their HMAC-SHA256 under the service's
        ``CROWDGATE_ID_HASH_KEY`` (ConflictError ``hash_key_not_set`` without one).
        """
        path = expand(MEMBERS, name=name)
        params: dict[str, Any] = {"limit": page_size}
        if hash_ids:
            params["hash_ids"] = "true"
        return paginate(lambda page: self._group_json("GET", path, page), params, Member.from_json)

    @covers(f"POST {MEMBERS}")
    def change_exclusion_members(
        self,
        name: str,
        *,
        add_worker_ids: Iterable[str] = (),
        add_hit_ids: Iterable[str] = (),
        remove_worker_ids: Iterable[str] = (),
        remove_hit_ids: Iterable[str] = (),
        platform: Platform | None = None,
        mode: Mode | None = None,
    ) -> MemberChangeResult:
        """Add and remove members in one request: the seed scripts' four lists.

        Removals go first, so a worker both added and removed stays a member (counted as
        ``kept``). ``add_hit_ids`` are read from the platform now (``platform`` and
        ``mode``, by default the group's binding); ``remove_hit_ids`` take out what
        adding those HITs put in, keeping workers another source holds. Each list may
        hold up to 100,000 ids.
        """
        body: dict[str, Any] = {
            "add_worker_ids": _names(add_worker_ids, "add_worker_ids", "A1B2C3D4E5F6G7"),
            "add_hit_ids": _names(add_hit_ids, "add_hit_ids", "3PR3LXCWSF67WOX6Y5S8EXAMPLE"),
            "remove_worker_ids": _names(remove_worker_ids, "remove_worker_ids", "A1B2C3D4E5F6G7"),
            "remove_hit_ids": _names(
                remove_hit_ids, "remove_hit_ids", "3PR3LXCWSF67WOX6Y5S8EXAMPLE"
            ),
        }
        if platform is not None:
            body["platform"] = platform
        if mode is not None:
            body["mode"] = mode
        response = self._transport.request("POST", expand(MEMBERS, name=name), json=body)
        return MemberChangeResult.from_json(json_object(response))

    @covers(f"POST {MEMBERS_FILE}")
    def upload_exclusion_members(
        self,
        name: str,
        file: UploadFile,
        *,
        action: FileAction = "add",
        filename: str | None = None,
    ) -> MemberChangeResult:
        """Add (or, with ``action="remove"``, remove) the workers of a file: an MTurk batch
        results CSV (``WorkerId``), a Prolific export (``Participant id``) or one id per line.

        Members added so keep ``file:<filename>`` as their source; ``filename`` defaults
        to the file's own name. ``.file`` says which column was read and how many workers.
        """
        shown = filename or _filename(file)
        # Read whole so that a retry can send it again.
        files = {"file": (shown, _read(file), "text/csv")}
        response = self._transport.request(
            "POST", expand(MEMBERS_FILE, name=name), data={"action": action}, files=files
        )
        return MemberChangeResult.from_json(json_object(response))

    @covers(f"GET {MEMBERS_CSV}")
    def export_exclusion_members(
        self,
        name: str,
        destination: Destination,
        *,
        hash_ids: bool = False,
        progress: Progress | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> int:
        """Stream the group as CSV (worker_id, first_added_at, sources) to ``destination``;
        returns the bytes written.

        With ``hash_ids=True`` each worker id is replaced by its HMAC-SHA256 under the
        service's ``CROWDGATE_ID_HASH_KEY`` (ConflictError ``hash_key_not_set`` without
        one): the same worker hashes the same way in every export under that key, so
        labs can compare records without sharing ids. ``destination`` is a path (written
        whole or not at all) or a binary file object.
        """
        response = self._transport.request(
            "GET",
            expand(MEMBERS_CSV, name=name),
            params={"hash_ids": "true"} if hash_ids else None,
            headers={"Accept": "text/csv"},
            stream=True,
        )
        return write_stream(response, destination, progress=progress, chunk_size=chunk_size)

    # --- the qualification sync -------------------------------------------------------

    @covers(f"POST {GROUP_SYNC}")
    def sync_exclusion_group(
        self,
        name: str,
        *,
        dry_run: bool = True,
        revoke: bool = False,
        reason: str | None = None,
        confirm: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> GroupSyncPlan | Job:
        """The sync's counts (a dry run, the default), or, with ``dry_run=False``, the job
        that grants the group's qualification to members lacking it, without notifying them.

        ``revoke=True`` also takes it from holders who are not members; MTurk emails each
        of them ``reason``. A live binding needs ``confirm="live"``. Calling again after an
        interrupted sync resumes its job from its ledger, granting no one twice: the job's
        ``extra["resumed"]`` says so. With ``wait`` (the default) the job is returned once
        it has finished.
        """
        body: dict[str, Any] = {"dry_run": dry_run, "revoke": revoke}
        if reason is not None:
            body["reason"] = reason
        if confirm is not None:
            body["confirm"] = confirm
        data = self._group_json("POST", expand(GROUP_SYNC, name=name), json=body)
        if dry_run:
            return GroupSyncPlan.from_json(data)
        resumed = bool(data.get("resumed", False))
        job = Job.from_json({**(data.get("job") or data), "resumed": resumed}, self)
        if not wait or job.finished:
            return job
        return self.wait_for_job(job, timeout=timeout).with_extra(resumed=resumed)


def _names(values: Iterable[str], argument: str, example: str) -> list[str]:
    if isinstance(values, str):
        # A lone string would otherwise be sent as a list of its characters.
        raise TypeError(f"{argument} is a list, e.g. [{example!r}]")
    return list(values)


def _filename(source: UploadFile) -> str:
    if isinstance(source, str | Path):
        return Path(source).name
    given = getattr(source, "name", None)
    return Path(given).name if isinstance(given, str) and given else "upload.csv"


def _read(source: UploadFile) -> bytes:
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    return source.read()


__all__ = ["ExclusionCalls"]
