"""Admin endpoints for a study's participants: list, detail and CSV export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, request
from flask_restx import Namespace, Resource

from crowdgate.api.auth import require_admin
from crowdgate.api.context import cursor_after, load, now, state
from crowdgate.api.csv_stream import stream_csv
from crowdgate.api.models import model, query_params
from crowdgate.domain import participants, studies
from crowdgate.schemas.common import ErrorSchema, PageArgsSchema, page_of
from crowdgate.schemas.participants import (
    ParticipantDetailSchema,
    ParticipantFilterSchema,
    ParticipantSchema,
)

ns = Namespace(
    "participants",
    path="/studies/<string:slug>/participants",
    description="A study's participants (admin keys)",
)

error_model = model(ns, ErrorSchema, "Error")
page_model = model(ns, page_of(ParticipantSchema, "ParticipantPage"), "ParticipantPage")
detail_model = model(ns, ParticipantDetailSchema, "ParticipantDetail")


class ListArgsSchema(ParticipantFilterSchema, PageArgsSchema):
    pass


EXPORT_COLUMNS = (
    "worker_id",
    "attempt",
    "assignment_id",
    "hit_id",
    "session_id",
    "condition",
    "status",
    "completion_code",
    "started_at",
    "completed_at",
    "lease_expires_at",
    "updated_at",
    "state",
    "platform_status",
    "submitted_code",
    "submitted_at",
    "reviewed_at",
    "answers",
)


def _sweep(slug: str) -> None:
    # Listing is where a researcher looks for abandoned places, so lapsed leases are
    # marked first instead of waiting for the next start.
    with state().db.write() as session:
        require_admin(session)
        participants.sweep_lapsed(session, studies.get_study(session, slug), now())


@ns.route("")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
@ns.response(422, "Invalid filter", error_model)
class ParticipantList(Resource):
    @ns.doc(security="admin", params=query_params(ListArgsSchema))
    @ns.response(200, "A page of participants, in the order they started", page_model)
    def get(self, slug: str) -> dict[str, Any]:
        """List a study's participants, filtered by status and condition."""
        _sweep(slug)
        args = load(ListArgsSchema(), request.args)
        with state().db.read() as session:
            study = studies.get_study(session, slug)
            found = participants.list_participants(
                session,
                study,
                status=args["status"],
                condition=args["condition"],
                after=cursor_after(args["cursor"]),
                limit=args["limit"],
            )
            return {
                "items": ParticipantSchema(many=True).dump(found),
                "next_cursor": str(found[-1].id) if len(found) == args["limit"] else None,
            }


@ns.route(".csv")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class ParticipantExport(Resource):
    @ns.doc(security="admin", params=query_params(ParticipantFilterSchema))
    @ns.produces(["text/csv"])
    @ns.response(200, "CSV, one row per participant; state as a JSON column")
    def get(self, slug: str) -> Response:
        """Export a study's participants as CSV, streamed."""
        _sweep(slug)
        args = load(ParticipantFilterSchema(), request.args)
        db = state().db

        def rows() -> Iterator[list[str]]:
            with db.read() as session:
                study = studies.get_study(session, slug)
                for participant in participants.iter_participants(session, study, **args):
                    yield _csv_row(participant)

        return stream_csv(EXPORT_COLUMNS, rows, f"{slug}-participants.csv")


def _csv_row(participant: Any) -> list[Any]:
    row: list[Any] = []
    for name in EXPORT_COLUMNS:
        value = getattr(participant, name)
        if name in ("state", "answers") and value is not None:
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        row.append(value)
    return row


@ns.route("/<path:worker_id>")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study or participant", error_model)
class ParticipantItem(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The participant's latest attempt, with its status history", detail_model)
    def get(self, slug: str, worker_id: str) -> dict[str, Any]:
        """Read one participant and every status change with its time."""
        _sweep(slug)
        with state().db.read() as session:
            study = studies.get_study(session, slug)
            return ParticipantDetailSchema().dump(
                participants.get_participant(session, study, worker_id)
            )
