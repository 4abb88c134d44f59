"""Exclusion groups: the participation record that outlives studies (admin keys)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Response, current_app, request
from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from crowdgate.api.auth import require_admin
from crowdgate.api.context import cursor_after, json_body, load, now, state
from crowdgate.api.csv_stream import stream_csv
from crowdgate.api.jobs import start_job
from crowdgate.api.models import model, query_params
from crowdgate.api.platform_access import client_for
from crowdgate.domain import exclusion_groups as groups
from crowdgate.domain import exclusion_members as members
from crowdgate.domain import exclusion_sync
from crowdgate.domain.confirmation import require_live_confirmation
from crowdgate.domain.id_hashing import hash_worker_id, seal, unseal
from crowdgate.domain.worker_lists import upload_name, worker_ids_from_file
from crowdgate.errors import Conflict, UnsupportedMediaType, ValidationFailed
from crowdgate.models import ExclusionGroup, Job
from crowdgate.platforms.failures import PlatformRejected
from crowdgate.schemas.common import ErrorSchema, PageArgsSchema, page_of
from crowdgate.schemas.exclusions import (
    BINDING_FIELDS,
    UNBINDING_FIELDS,
    ExportArgsSchema,
    GroupPutSchema,
    GroupSchema,
    MembersArgsSchema,
    MembersChangeResultSchema,
    MembersChangeSchema,
    MemberSchema,
    MembersFileFormSchema,
    SyncPlanSchema,
    SyncRequestSchema,
    SyncStartedSchema,
)

ns = Namespace(
    "exclusions",
    path="/exclusions",
    description="Exclusion groups, their members and their qualification sync (admin keys)",
)

error_model = model(ns, ErrorSchema, "Error")
group_model = model(ns, GroupSchema, "ExclusionGroup")
put_model = model(ns, GroupPutSchema, "ExclusionGroupPut")
group_page_model = model(ns, page_of(GroupSchema, "ExclusionGroupPage"), "ExclusionGroupPage")
change_model = model(ns, MembersChangeSchema, "MembersChange")
change_result_model = model(ns, MembersChangeResultSchema, "MembersChangeResult")
member_page_model = model(ns, page_of(MemberSchema, "MemberPage"), "MemberPage")
sync_request_model = model(ns, SyncRequestSchema, "GroupSyncRequest")
sync_plan_model = model(ns, SyncPlanSchema, "GroupSyncPlan")
sync_started_model = model(ns, SyncStartedSchema, "GroupSyncStarted")
upload_parser = ns.parser()
upload_parser.add_argument("file", location="files", type="file", required=True)
upload_parser.add_argument("action", location="form", choices=("add", "remove"), default="add")


def _errors(cls: Any) -> Any:
    for code, text in (
        (401, "No key or a wrong key"),
        (403, "Not an admin key"),
        (404, "No such group"),
    ):
        cls = ns.response(code, text, error_model)(cls)
    return cls


def dump_group(session: Session, group: ExclusionGroup) -> dict[str, Any]:
    binding = None
    if group.binding_ref is not None:
        binding = {
            "platform": group.binding_platform,
            "mode": group.binding_mode,
            "ref": group.binding_ref,
            "name": group.binding_name,
        }
    body: dict[str, Any] = GroupSchema().dump(
        {
            "name": group.name,
            "description": group.description,
            "record_studies": groups.study_slugs(session, group, roles=(groups.RECORD,)),
            "record_when": group.record_when,
            "excluding_studies": groups.study_slugs(session, group, roles=(groups.EXCLUDE,)),
            "including_studies": groups.study_slugs(session, group, roles=(groups.INCLUDE,)),
            "members": groups.member_count(session, group),
            "binding": binding,
            "sync_job_id": group.sync_job_id,
            "created_at": group.created_at,
            "updated_at": group.updated_at,
        }
    )
    return body


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _binding(values: dict[str, Any], description: str) -> dict[str, Any] | None:
    """The platform binding the PUT body asks for, looked up or created on the platform."""
    for field, (platform, kind) in BINDING_FIELDS.items():
        if kind == "id" and values.get(field):
            return {
                "platform": platform,
                "mode": values["mode"],
                "ref": values[field],
                "name": None,
            }
    for field, (platform, kind) in BINDING_FIELDS.items():
        name = values.get(field) if kind == "name" else None
        if not name:
            continue
        client = client_for(_app(), platform, values["mode"])
        found = client.find_qualification_type(name)
        if found is None:
            found = client.create_qualification_type(
                name, description or "Took part in earlier studies of this requester."
            )
        return {"platform": platform, "mode": values["mode"], "ref": found.id, "name": found.name}
    return None


@ns.route("")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
class GroupList(Resource):
    @ns.doc(security="admin", params=query_params(PageArgsSchema))
    @ns.response(200, "A page of groups", group_page_model)
    def get(self) -> dict[str, Any]:
        """List exclusion groups, oldest first."""
        args = load(PageArgsSchema(), request.args)
        with state().db.read() as session:
            require_admin(session)
            found = groups.list_groups(
                session, after=cursor_after(args["cursor"]), limit=args["limit"]
            )
            return {
                "items": [dump_group(session, g) for g in found],
                "next_cursor": str(found[-1].id) if len(found) == args["limit"] else None,
            }


@ns.route("/<string:name>")
@_errors
class Group(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The group", group_model)
    def get(self, name: str) -> dict[str, Any]:
        """Read a group: its rule, binding, member count and the studies using it."""
        with state().db.read() as session:
            require_admin(session)
            return dump_group(session, groups.get_group(session, name))

    @ns.doc(security="admin")
    @ns.expect(put_model)
    @ns.response(200, "Updated", group_model)
    @ns.response(201, "Created", group_model)
    @ns.response(422, "Invalid fields", error_model)
    @ns.response(502, "The platform refused the qualification lookup", error_model)
    def put(self, name: str) -> tuple[dict[str, Any], int]:
        """Create or update a group; bind it to an MTurk qualification or a Prolific
        participant group, by id or by name."""
        if not groups.NAME_PATTERN.fullmatch(name):
            raise ValidationFailed(
                f"{name!r} is not a group name: use 1 to 100 letters, digits, '_', '.' or '-'.",
                code="invalid_group_name",
                fields={"name": ["use 1 to 100 letters, digits, '_', '.' or '-'"]},
            )
        values = load(GroupPutSchema(), json_body())
        with state().db.read() as session:
            require_admin(session)
            # Checked before the platform is asked, so a refused PUT creates nothing there.
            groups.studies_named(session, values.get("record_studies", ()), "record_studies")
        # The platform is asked before any transaction opens: it may take seconds.
        binding = _binding(values, values.get("description", ""))
        if binding is not None or any(name in values for name in UNBINDING_FIELDS):
            values["binding"] = binding
        with state().db.write() as session:
            group, created = groups.put_group(session, name, values, now=now())
            return dump_group(session, group), 201 if created else 200

    @ns.doc(security="admin")
    @ns.response(204, "Deleted, with its members")
    @ns.response(409, "Studies still use the group", error_model)
    def delete(self, name: str) -> tuple[str, int]:
        """Delete a group and its members; refused while a study excludes or requires it."""
        with state().db.write() as session:
            require_admin(session)
            groups.delete_group(session, groups.get_group(session, name, for_delete=True))
        return "", 204


def _hashing_key(hash_ids: bool) -> str | None:
    """The key hashed listings use; ask only after the caller is known to be an admin,
    so that no one else learns how the service is set up."""
    if not hash_ids:
        return None
    key = current_app.config.get("CROWDGATE_ID_HASH_KEY")
    if not key:
        raise Conflict(
            "hash_ids needs CROWDGATE_ID_HASH_KEY set on the service: the secret the hashes "
            "are made with.",
            code="hash_key_not_set",
            fields={"hash_ids": ["CROWDGATE_ID_HASH_KEY is not set"]},
        )
    return str(key)


def _shown(worker_id: str, key: str | None) -> str:
    return worker_id if key is None else hash_worker_id(key, worker_id)


def _hit_workers(
    group: ExclusionGroup, values: dict[str, Any]
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """The workers of each HIT to add, read from the platform (before any transaction)."""
    hit_ids = values["add_hit_ids"]
    if not hit_ids:
        return [], []
    platform = values.get("platform") or group.binding_platform
    mode = values.get("mode") or group.binding_mode
    missing = [name for name, value in (("platform", platform), ("mode", mode)) if not value]
    if missing:
        raise ValidationFailed(
            f"Name the {' and '.join(missing)} the HITs are on (the group has no binding to "
            "take them from).",
            fields={name: ["is required with add_hit_ids"] for name in missing},
        )
    client = client_for(_app(), str(platform), str(mode))
    pairs: list[tuple[str, str]] = []
    per_hit = []
    for hit_id in dict.fromkeys(hit_ids):
        try:
            workers = {s.worker_id for s in client.list_submissions([hit_id])}
        except ValidationFailed as exc:
            # The platform's own check of the id's form: name the field this request used.
            problems = [p for found in exc.fields.values() for p in found] or [exc.message]
            raise ValidationFailed(
                f"add_hit_ids: {hit_id!r} {problems[0]}",
                fields={f"add_hit_ids.{hit_ids.index(hit_id)}": problems},
            ) from exc
        except PlatformRejected as exc:
            raise ValidationFailed(
                f"HIT {hit_id} cannot be read: {exc.message} Nothing was changed; a HIT MTurk "
                "has disposed of (120 days old) can be added by its workers' ids instead.",
                code="hit_unreadable",
                fields={"add_hit_ids": [f"{hit_id}: {exc.message}"]},
            ) from exc
        source = members.hit_source(hit_id)
        pairs.extend((w, source) for w in sorted(workers))
        per_hit.append({"hit_id": hit_id, "workers": len(workers)})
    return pairs, per_hit


def _member_cursor(cursor: str | None, key: str | None) -> str | None:
    """Where a member page starts: a raw id, or, for hashed listings, a sealed one."""
    if cursor is None or key is None:
        return cursor
    after = unseal(key, cursor)
    if after is None:
        raise ValidationFailed(
            "cursor is not one a hashed listing of this service handed out.",
            fields={"cursor": ["not a cursor from a previous page of a hashed listing"]},
        )
    return after


def _apply(name: str, change: members.MemberChange) -> dict[str, Any]:
    with state().db.write() as session:
        group = groups.get_group(session, name, for_update=True)
        result = members.change_members(session, group, change, now=now())
        group.updated_at = now()
        result["members"] = groups.member_count(session, group)
        return result


@ns.route("/<string:name>/members")
@_errors
class Members(Resource):
    @ns.doc(security="admin", params=query_params(MembersArgsSchema))
    @ns.response(200, "A page of members, in worker id order", member_page_model)
    @ns.response(409, "hash_ids without CROWDGATE_ID_HASH_KEY", error_model)
    def get(self, name: str) -> dict[str, Any]:
        """Page through a group's members, each with where and when it joined."""
        args = load(MembersArgsSchema(), request.args)
        with state().db.read() as session:
            require_admin(session)
            key = _hashing_key(args["hash_ids"])
            after = _member_cursor(args["cursor"], key)
            group = groups.get_group(session, name)
            page = members.list_members(session, group, after=after, limit=args["limit"])
            items = [
                MemberSchema().dump({"worker_id": _shown(m.worker_id, key), "sources": m.sources})
                for m in page
            ]
            last = page[-1].worker_id if len(page) == args["limit"] else None
            if last is not None and key is not None:
                last = seal(key, last)  # a hashed listing must not give raw ids away
            return {"items": items, "next_cursor": last}

    @ns.doc(security="admin")
    @ns.expect(change_model)
    @ns.response(200, "What changed", change_result_model)
    @ns.response(422, "Invalid lists, or a HIT that cannot be read", error_model)
    @ns.response(503, "The platform is unavailable; nothing was changed", error_model)
    def post(self, name: str) -> dict[str, Any]:
        """Add and remove members by worker and by HIT; a worker both added and removed
        stays a member."""
        values = load(MembersChangeSchema(), json_body())
        with state().db.read() as session:
            require_admin(session)
            group = groups.get_group(session, name)
        added, per_hit = _hit_workers(group, values)
        change = members.MemberChange(
            add=[(w, members.LISTED) for w in values["add_worker_ids"]] + added,
            remove_workers=set(values["remove_worker_ids"]),
            remove_sources={members.hit_source(h) for h in values["remove_hit_ids"]},
        )
        result = _apply(name, change)
        result["hits"] = per_hit
        result["unmatched_hit_ids"] = sorted(
            s.removeprefix("hit:") for s in result.pop("unmatched_sources")
        )
        return MembersChangeResultSchema().dump(result)


@ns.route("/<string:name>/members/file")
@_errors
class MembersFile(Resource):
    @ns.doc(security="admin")
    @ns.expect(upload_parser)
    @ns.response(200, "What changed", change_result_model)
    @ns.response(415, "Not a multipart form", error_model)
    @ns.response(422, "No worker id column, or values that are not ids", error_model)
    def post(self, name: str) -> dict[str, Any]:
        """Add (or remove) the workers of an uploaded file: an MTurk batch results CSV
        (WorkerId), a Prolific export (Participant id) or one id per line."""
        with state().db.read() as session:
            require_admin(session)
            groups.get_group(session, name)
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType("Send the file as multipart/form-data in the field 'file'.")
        options = load(MembersFileFormSchema(), request.form.to_dict())
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed(
                "file is missing: send the list as the form field 'file'.",
                fields={"file": ["is required"]},
            )
        worker_ids, where = worker_ids_from_file(upload.read())
        filename = upload_name(upload.filename)
        if options["action"] == "add":
            change = members.MemberChange(
                add=[(w, members.file_source(filename)) for w in worker_ids]
            )
        else:
            change = members.MemberChange(remove_workers=set(worker_ids))
        result = _apply(name, change)
        result.pop("unmatched_sources")
        result["file"] = {"name": filename, "read_from": where, "workers": len(worker_ids)}
        return MembersChangeResultSchema().dump(result)


@ns.route("/<string:name>/members.csv")
@_errors
class MembersExport(Resource):
    @ns.doc(security="admin", params=query_params(ExportArgsSchema))
    @ns.produces(["text/csv"])
    @ns.response(200, "CSV, one row per member: worker_id, first_added_at, sources")
    @ns.response(409, "hash_ids without CROWDGATE_ID_HASH_KEY", error_model)
    def get(self, name: str) -> Response:
        """Export a group's members as CSV, ids hashed with hash_ids=true."""
        args = load(ExportArgsSchema(), request.args)
        db = state().db
        with db.read() as session:
            require_admin(session)
            key = _hashing_key(args["hash_ids"])
            groups.get_group(session, name)

        def rows() -> Iterator[list[Any]]:
            with db.read() as session:
                group = groups.get_group(session, name)
                for member in members.iter_members(session, group):
                    yield [
                        _shown(member.worker_id, key),
                        member.sources[0]["added_at"].isoformat(),
                        ";".join(s["source"] for s in member.sources),
                    ]

        return stream_csv(("worker_id", "first_added_at", "sources"), rows, f"{name}-members.csv")


@ns.route("/<string:name>/sync")
@_errors
class GroupSync(Resource):
    @ns.doc(security="admin")
    @ns.expect(sync_request_model)
    @ns.response(200, "The dry run's counts", sync_plan_model)
    @ns.response(202, "The sync job (new or resumed); Location points at it", sync_started_model)
    @ns.response(409, "No binding, or a sync is running", error_model)
    @ns.response(422, "Invalid fields, or live mode without confirm", error_model)
    def post(self, name: str) -> Any:
        """Grant the group's qualification to members lacking it (no notification); with
        revoke, take it from holders who are not members (MTurk emails them)."""
        options = load(SyncRequestSchema(), json_body())
        with state().db.read() as session:
            require_admin(session)
            group = groups.get_group(session, name)
            exclusion_sync.check_bound(group)
            platform, mode = str(group.binding_platform), str(group.binding_mode)
        client = client_for(_app(), platform, mode)
        if options["dry_run"]:
            with state().db.read() as session:
                group = groups.get_group(session, name)
                plan = exclusion_sync.read_plan(session, group, client, revoke=options["revoke"])
                return SyncPlanSchema().dump(
                    {
                        "group": name,
                        "dry_run": True,
                        "platform": platform,
                        "mode": mode,
                        "qualification_type_id": group.binding_ref,
                        **plan.summary(),
                    }
                )
        require_live_confirmation(
            mode,
            options.get("confirm"),
            why="Syncing a live qualification changes who may take live HITs (and revoking "
            "emails workers).",
            when="to sync a live qualification",
        )
        resumed = False
        stale = int(current_app.config.get("CROWDGATE_JOB_STALE_SECONDS", 300))

        def create(session: Session) -> Job:
            nonlocal resumed
            group = groups.get_group(session, name, for_update=True)
            job, resumed = exclusion_sync.start_or_resume(
                session,
                group,
                revoke=options["revoke"],
                reason=options.get("reason", ""),
                now=now(),
                stale_before=now() - timedelta(seconds=stale),
            )
            return job

        body, status, headers = start_job(create)
        body["resumed"] = resumed
        return body, status, headers
