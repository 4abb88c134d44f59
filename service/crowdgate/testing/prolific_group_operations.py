"""Participant groups (membership changed by the dedicated add/remove calls, both
idempotent) and hook secrets and subscriptions."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from crowdgate.testing.prolific_requests import ProlificError, Request, iso, paginate
from crowdgate.testing.prolific_state import Group, Subscription

if TYPE_CHECKING:
    from crowdgate.testing.prolific_emulator import ProlificEmulator

EVENT_TYPES = (
    "submission.status.change",
    "study.status.change",
    "study.progress.change",
    "study.has_high_return_rate",
)


def _workspace(emu: ProlificEmulator, workspace_id: str, field: str) -> str:
    if workspace_id != emu.state.workspace_id:
        raise ProlificError(400, {field: [f"Workspace {workspace_id} not found."]})
    return workspace_id


def _group(emu: ProlificEmulator, group_id: str) -> Group:
    group = emu.state.groups.get(group_id)
    if group is None or group.is_deleted:
        raise ProlificError(404, f"Participant group {group_id} not found.")
    return group


def _group_body(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "workspace_id": group.workspace_id,
        "project_id": None,
        "organisation_id": None,
        "participant_count": len(group.members),
        "is_deleted": group.is_deleted,
        "feeder_studies": [],
    }


def _members(group: Group) -> list[dict[str, Any]]:
    return [
        {"participant_id": p, "datetime_created": iso(when)} for p, when in group.members.items()
    ]


def create_group(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    name = request.text("name")
    workspace = _workspace(emu, request.id("workspace_id"), "workspace_id")
    description = request.text("description", required=False)
    members = request.ids("participant_ids", required=False)
    now = emu.now()
    group = Group(
        id=emu.new_id(),
        name=name,
        workspace_id=workspace,
        description=description,
        members=dict.fromkeys(members, now),
        seq=emu.state.seq(),
    )
    emu.state.groups[group.id] = group
    return 201, _group_body(group)


def list_groups(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    workspace = request.query.get("workspace_id")
    groups = [g for g in emu.state.groups.values() if not g.is_deleted]
    if workspace:
        groups = [g for g in groups if g.workspace_id == workspace]
    groups.sort(key=lambda g: g.seq)
    return 200, paginate(request, [_group_body(g) for g in groups])


def get_group(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    return 200, _group_body(_group(emu, request.args["id"]))


def update_group(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    """PATCH: ``participant_ids`` replaces the whole membership, as Prolific warns."""
    group = _group(emu, request.args["id"])
    body = request.obj()
    name = request.text("name") if "name" in body else group.name
    description = request.text("description") if "description" in body else group.description
    if "participant_ids" in body:
        members = request.ids("participant_ids")
        now = emu.now()
        group.members = {p: group.members.get(p, now) for p in members}
    group.name = name
    group.description = description
    return 200, _group_body(group)


def delete_group(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    _group(emu, request.args["id"]).is_deleted = True
    return 204, None


def add_participants(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    group = _group(emu, request.args["id"])
    now = emu.now()
    for participant in request.ids("participant_ids"):
        group.members.setdefault(participant, now)
    return 200, {"results": _members(group)}


def remove_participants(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    group = _group(emu, request.args["id"])
    for participant in request.ids("participant_ids"):
        group.members.pop(participant, None)
    return 200, {"results": _members(group)}


def list_participants(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    group = _group(emu, request.args["id"])
    return 200, paginate(request, _members(group))


# -- hooks -------------------------------------------------------------------------------


def create_secret(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    workspace = _workspace(emu, request.id("workspace_id"), "workspace_id")
    # One active secret per workspace: a new one replaces the old.
    secret = [emu.new_id(), secrets.token_urlsafe(32)]
    emu.state.secrets[workspace] = secret
    return 201, {"id": secret[0], "value": secret[1], "workspace_id": workspace}


def list_secrets(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    workspace = request.query.get("workspace_id") or emu.state.workspace_id
    found = emu.state.secrets.get(workspace)
    results = [{"id": found[0], "value": found[1], "workspace_id": workspace}] if found else []
    return 200, {"results": results}


def _subscription_body(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "workspace_id": subscription.workspace_id,
        "event_type": subscription.event_type,
        "target_url": subscription.target_url,
        "is_enabled": subscription.is_enabled,
    }


def create_subscription(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    workspace = _workspace(emu, request.id("workspace_id"), "workspace_id")
    event_type = request.text("event_type")
    if event_type not in EVENT_TYPES:
        raise ProlificError(400, {"event_type": [f"Must be one of {', '.join(EVENT_TYPES)}."]})
    target = request.text("target_url")
    # Prolific insists on public https targets; local tests need plain http.
    if not target.startswith(("https://", "http://")):
        raise ProlificError(400, {"target_url": ["Must be an http(s) URL."]})
    subscription = Subscription(
        id=emu.new_id(),
        workspace_id=workspace,
        event_type=event_type,
        target_url=target,
        seq=emu.state.seq(),
    )
    emu.state.subscriptions[subscription.id] = subscription
    return 201, _subscription_body(subscription)


def list_subscriptions(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    rows = sorted(emu.state.subscriptions.values(), key=lambda s: s.seq)
    workspace = request.query.get("workspace_id")
    if workspace:
        rows = [s for s in rows if s.workspace_id == workspace]
    return 200, paginate(request, [_subscription_body(s) for s in rows])


def confirm_subscription(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    """Subscriptions are live at once here; confirming one is accepted and changes nothing."""
    subscription = emu.state.subscriptions.get(request.args["id"])
    if subscription is None:
        raise ProlificError(404, f"Subscription {request.args['id']} not found.")
    subscription.is_enabled = True
    return 200, _subscription_body(subscription)


def delete_subscription(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    if emu.state.subscriptions.pop(request.args["id"], None) is None:
        raise ProlificError(404, f"Subscription {request.args['id']} not found.")
    return 204, None
