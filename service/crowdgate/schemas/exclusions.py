"""Exclusion groups, their members, and syncing them to a platform's qualification."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from crowdgate.domain.exclusion_groups import RECORD_WHEN
from crowdgate.domain.studies import SLUG_PATTERN
from crowdgate.domain.worker_lists import POSTING_ID, WORKER_ID
from crowdgate.platforms import PLATFORM_NAMES

MODE = validate.OneOf(("sandbox", "live"))
ID = validate.Regexp(
    WORKER_ID,
    error="a worker id is 1 to 128 characters without '/', control characters or "
    "surrounding spaces",
)
HIT_ID = validate.Regexp(POSTING_ID, error="a HIT id is 1 to 128 letters, digits, '_' or '-'")
#: The PUT fields that bind a group, each to its platform and to an id or a name.
BINDING_FIELDS = {
    "mturk_qualification_type_id": ("mturk", "id"),
    "mturk_qualification_name": ("mturk", "name"),
    "prolific_group_id": ("prolific", "id"),
    "prolific_group_name": ("prolific", "name"),
}
#: The fields whose null unbinds a group.
UNBINDING_FIELDS = ("mturk_qualification_type_id", "prolific_group_id")
#: One request's list; bigger sets come as files or in several requests.
MAX_IDS = 100_000


def _ids(description: str, rule: validate.Validator = ID) -> fields.List:
    return fields.List(
        fields.String(validate=rule),
        load_default=list,
        validate=validate.Length(max=MAX_IDS),
        metadata={"description": description},
    )


class GroupPutSchema(Schema):
    description = fields.String(validate=validate.Length(max=2000))
    record_studies = fields.List(
        fields.String(validate=validate.Regexp(SLUG_PATTERN, error="not a study slug")),
        validate=validate.Length(max=1000),
        metadata={
            "description": "studies whose participants join the group by themselves (and "
            "whose participants so far join now); replaces the list"
        },
    )
    record_when = fields.String(
        validate=validate.OneOf(RECORD_WHEN),
        metadata={
            "description": "started: at /start; completed: at /complete or when sync finds "
            "a submission; submitted: only when sync finds a submission"
        },
    )
    mturk_qualification_type_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z0-9]{1,128}\Z", error="not an MTurk qualification type id"),
        metadata={"description": "bind the group to this qualification type; null unbinds"},
    )
    mturk_qualification_name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "bind to the requester's qualification type of this name, "
            "created if it does not exist"
        },
    )
    prolific_group_id = fields.String(
        allow_none=True,
        validate=validate.Regexp(
            r"^[0-9a-fA-F]{24}\Z", error="not a Prolific participant group id (24 hex digits)"
        ),
        metadata={"description": "bind the group to this Prolific participant group; null unbinds"},
    )
    prolific_group_name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "bind to the workspace's Prolific participant group of this name, "
            "created if it does not exist (needs CROWDGATE_PROLIFIC_WORKSPACE_ID)"
        },
    )
    mode = fields.String(
        validate=MODE,
        metadata={
            "description": "sandbox or live: where the qualification lives (Prolific has no "
            "sandbox: both reach the one configured API)"
        },
    )

    @validates_schema
    def _one_binding(self, data: dict[str, Any], **_: Any) -> None:
        given = [name for name in BINDING_FIELDS if name in data]
        if len(given) > 1:
            raise ValidationError(f"give one of {', '.join(given)}, not several", given[-1])
        binds = any(data.get(name) for name in BINDING_FIELDS)
        if binds and "mode" not in data:
            raise ValidationError("is required with a qualification: sandbox or live", "mode")
        if "mode" in data and not binds and not (set(data) & set(UNBINDING_FIELDS)):
            # A bound group keeps the mode it was bound in: moving it to the other mode
            # means naming the qualification there, which is a different type.
            raise ValidationError("goes with a qualification or participant group", "mode")

    @post_load
    def _set_unique(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        studies = data.get("record_studies")
        if studies is not None and len(set(studies)) != len(studies):
            raise ValidationError("study slugs must be unique", "record_studies")
        return data


class BindingSchema(Schema):
    platform = fields.String()
    mode = fields.String()
    qualification_type_id = fields.String(attribute="ref")
    qualification_name = fields.String(attribute="name", allow_none=True)


class GroupSchema(Schema):
    name = fields.String()
    description = fields.String()
    record_studies = fields.List(fields.String())
    record_when = fields.String()
    excluding_studies = fields.List(
        fields.String(), metadata={"description": "exclude its members"}
    )
    including_studies = fields.List(
        fields.String(), metadata={"description": "admit only its members"}
    )
    members = fields.Integer(metadata={"description": "distinct workers"})
    binding = fields.Nested(BindingSchema, allow_none=True)
    sync_job_id = fields.String(allow_none=True, metadata={"description": "the latest sync"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class MembersChangeSchema(Schema):
    add_worker_ids = _ids("workers to add")
    add_hit_ids = _ids("HITs whose workers to add, read from the platform now", HIT_ID)
    remove_worker_ids = _ids("workers to remove, whatever put them in the group")
    remove_hit_ids = _ids("HITs whose workers to remove: what adding those HITs put in", HIT_ID)
    platform = fields.String(
        validate=validate.OneOf(PLATFORM_NAMES),
        metadata={"description": "where add_hit_ids are (default: the group's binding)"},
    )
    mode = fields.String(validate=MODE, metadata={"description": "with platform"})

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not any(data.get(name) for name in self.fields if name.endswith("_ids")):
            raise ValidationError(
                "give at least one of add_worker_ids, add_hit_ids, remove_worker_ids, "
                "remove_hit_ids",
                "add_worker_ids",
            )


class MembersFileFormSchema(Schema):
    action = fields.String(
        load_default="add",
        validate=validate.OneOf(("add", "remove")),
        metadata={"description": "add the file's workers (the default) or remove them"},
    )


class KeptWorkerSchema(Schema):
    worker_id = fields.String()
    reason = fields.String(metadata={"description": "added_in_this_request or other_sources"})
    sources = fields.List(fields.String())


class HitWorkersSchema(Schema):
    hit_id = fields.String()
    workers = fields.Integer()


class MembersChangeResultSchema(Schema):
    added = fields.Integer(metadata={"description": "workers who were not members before"})
    removed = fields.Integer(metadata={"description": "workers who are no longer members"})
    kept = fields.Integer(
        metadata={
            "description": "workers named for removal who stay members (also added, "
            "or in the group through another source)"
        }
    )
    already_members = fields.Integer()
    not_members = fields.Integer(metadata={"description": "removals of non-members"})
    members = fields.Integer(metadata={"description": "distinct workers after the change"})
    kept_workers = fields.List(
        fields.Nested(KeptWorkerSchema), metadata={"description": "up to 100"}
    )
    unmatched_hit_ids = fields.List(
        fields.String(), metadata={"description": "removed HITs that had added nobody"}
    )
    hits = fields.List(fields.Nested(HitWorkersSchema))
    file = fields.Dict(metadata={"description": "for uploads: where the ids were read, how many"})


class MemberSourceSchema(Schema):
    source = fields.String(
        metadata={"description": "workers, hit:<id>, study:<slug> or file:<name>"}
    )
    added_at = fields.DateTime()


class MemberSchema(Schema):
    worker_id = fields.String(metadata={"description": "hashed with hash_ids=true"})
    sources = fields.List(fields.Nested(MemberSourceSchema))


class ExportArgsSchema(Schema):
    hash_ids = fields.Boolean(
        load_default=False,
        metadata={"description": "replace worker ids with HMAC-SHA256 under CROWDGATE_ID_HASH_KEY"},
    )


class MembersArgsSchema(ExportArgsSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    # A hashed listing's cursor is a sealed id: longer than the id itself.
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=1000))


class SyncRequestSchema(Schema):
    dry_run = fields.Boolean(load_default=True, metadata={"description": "only show the counts"})
    revoke = fields.Boolean(
        load_default=False,
        metadata={"description": "also revoke holders who are not members (MTurk emails each)"},
    )
    reason = fields.String(
        validate=validate.Length(min=1, max=1024),
        metadata={"description": "what MTurk's email tells a revoked worker"},
    )
    confirm = fields.String(metadata={"description": '"live" to sync a live qualification'})


class SyncPlanSchema(Schema):
    group = fields.String()
    dry_run = fields.Boolean()
    platform = fields.String()
    mode = fields.String()
    qualification_type_id = fields.String()
    members = fields.Integer()
    holders = fields.Integer(metadata={"description": "workers holding the qualification now"})
    to_grant = fields.Integer()
    to_revoke = fields.Integer()
    left_alone = fields.Integer(
        metadata={"description": "holders who are not members, kept because revoke is false"}
    )
    already_granted = fields.Integer()
    foreign_ids = fields.Integer(
        metadata={"description": "members whose ids the platform would refuse: left out"}
    )
    grant_sample = fields.List(fields.String(), metadata={"description": "the first 20"})
    revoke_sample = fields.List(fields.String(), metadata={"description": "the first 20"})


class SyncStartedSchema(Schema):
    job_id = fields.String(required=True)
    state = fields.String(required=True)
    resumed = fields.Boolean(metadata={"description": "continues an unfinished sync's ledger"})
    job = fields.Dict()
