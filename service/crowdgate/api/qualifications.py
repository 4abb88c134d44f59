"""Qualification types on a platform: create (or reuse), list holders, grant, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app, request
from flask_restx import Namespace, Resource

from crowdgate.api.auth import require_admin
from crowdgate.api.context import json_body, load, state
from crowdgate.api.models import model, query_params
from crowdgate.api.platform_access import client_for
from crowdgate.domain import qualifications
from crowdgate.domain.qualifications import GRANTED, REVOKED, WorkerOutcome
from crowdgate.platforms import PlatformClient
from crowdgate.schemas.common import ErrorSchema
from crowdgate.schemas.qualifications import (
    GrantRequestSchema,
    GrantResultsSchema,
    PlatformModeArgsSchema,
    QualificationTypeCreateSchema,
    QualificationTypeSchema,
    QualifiedWorkersSchema,
    RevocationRequestSchema,
    RevocationResultsSchema,
)

ns = Namespace(
    "qualifications",
    path="/qualifications",
    description="Qualification types on a platform: create, grant, revoke, list (admin keys)",
)

error_model = model(ns, ErrorSchema, "Error")
create_model = model(ns, QualificationTypeCreateSchema, "QualificationTypeCreate")
type_model = model(ns, QualificationTypeSchema, "QualificationType")
workers_model = model(ns, QualifiedWorkersSchema, "QualifiedWorkers")
grant_model = model(ns, GrantRequestSchema, "GrantRequest")
grant_results_model = model(ns, GrantResultsSchema, "GrantResults")
revocation_model = model(ns, RevocationRequestSchema, "RevocationRequest")
revocation_results_model = model(ns, RevocationResultsSchema, "RevocationResults")


def _admin() -> None:
    with state().db.read() as session:
        require_admin(session)


def _client(values: dict[str, Any]) -> PlatformClient:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return client_for(app, values["platform"], values["mode"])


def _results(outcomes: Sequence[WorkerOutcome], done: str) -> dict[str, Any]:
    return {
        "results": [
            {"worker_id": o.worker_id, "outcome": o.outcome}
            | ({"error": o.error} if o.error is not None else {})
            for o in outcomes
        ],
        **qualifications.counts(outcomes, done),
    }


@ns.route("")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
class QualificationTypes(Resource):
    @ns.doc(security="admin")
    @ns.expect(create_model)
    @ns.response(200, "A type of this name existed and was reused", type_model)
    @ns.response(201, "Created", type_model)
    @ns.response(
        409, "The name is taken (reuse_existing false), or no such platform feature", error_model
    )
    @ns.response(422, "Invalid fields, or the platform refused them", error_model)
    @ns.response(503, "The platform did not answer, or kept throttling", error_model)
    def post(self) -> tuple[dict[str, Any], int]:
        """Create a qualification type, or reuse the account's type of the same name."""
        _admin()
        values = load(QualificationTypeCreateSchema(), json_body())
        found, created = qualifications.create_or_reuse(
            _client(values),
            values["name"],
            values["description"],
            reuse_existing=values["reuse_existing"],
        )
        body = {
            "id": found.id,
            "name": found.name,
            "description": found.description,
            "platform": values["platform"],
            "mode": values["mode"],
            "created": created,
        }
        return QualificationTypeSchema().dump(body), 201 if created else 200


@ns.route("/<string:type_id>/workers")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "The platform has no such qualification type", error_model)
@ns.response(409, "The platform has no qualifications", error_model)
@ns.response(422, "Invalid platform, mode or type id", error_model)
@ns.response(503, "The platform did not answer, or kept throttling", error_model)
class QualifiedWorkers(Resource):
    @ns.doc(security="admin", params=query_params(PlatformModeArgsSchema))
    @ns.response(200, "Every worker holding the type, all pages read", workers_model)
    def get(self, type_id: str) -> dict[str, Any]:
        """The workers holding a qualification type now, with their values."""
        _admin()
        args = load(PlatformModeArgsSchema(), request.args)
        found = qualifications.holders(_client(args), args["platform"], args["mode"], type_id)
        items = [
            {"worker_id": g.worker_id, "value": g.value, "granted_at": g.granted_at} for g in found
        ]
        return QualifiedWorkersSchema().dump({"items": items, "count": len(items)})


@ns.route("/<string:type_id>/grants")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "The platform has no such qualification type", error_model)
@ns.response(409, "The platform has no qualifications", error_model)
@ns.response(422, "Invalid fields or worker ids; nobody was granted anything", error_model)
@ns.response(503, "The platform did not answer about the type; nobody was granted", error_model)
class Grants(Resource):
    @ns.doc(security="admin")
    @ns.expect(grant_model)
    @ns.response(200, "One outcome per worker: granted, or failed with why", grant_results_model)
    def post(self, type_id: str) -> dict[str, Any]:
        """Grant a qualification type, with a value, to up to 100 workers.

        Each worker is one platform call: one that fails is reported for that worker
        and the others go ahead. Workers are not notified unless notify is true.
        """
        _admin()
        values = load(GrantRequestSchema(), json_body())
        qualifications.check_worker_ids(values["platform"], values["worker_ids"])
        outcomes = qualifications.grant(
            _client(values),
            values["platform"],
            values["mode"],
            type_id,
            values["worker_ids"],
            value=values["value"],
            notify=values["notify"],
        )
        return GrantResultsSchema().dump(_results(outcomes, GRANTED))


@ns.route("/<string:type_id>/revocations")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "The platform has no such qualification type", error_model)
@ns.response(409, "The platform has no qualifications", error_model)
@ns.response(
    422, "Invalid fields or worker ids, or live mode without confirm; nobody revoked", error_model
)
@ns.response(503, "The platform did not answer about the type; nobody was revoked", error_model)
class Revocations(Resource):
    @ns.doc(security="admin")
    @ns.expect(revocation_model)
    @ns.response(
        200, "One outcome per worker: revoked, or failed with why", revocation_results_model
    )
    def post(self, type_id: str) -> dict[str, Any]:
        """Revoke a qualification type from up to 100 workers, giving the reason.

        MTurk e-mails the reason to every worker revoked, so live mode needs
        confirm: "live". A worker whose revocation fails is reported, the others go ahead.
        """
        _admin()
        values = load(RevocationRequestSchema(), json_body())
        qualifications.check_worker_ids(values["platform"], values["worker_ids"])
        qualifications.require_revocation_confirmed(values["mode"], values["confirm"])
        outcomes = qualifications.revoke(
            _client(values),
            values["platform"],
            values["mode"],
            type_id,
            values["worker_ids"],
            reason=values["reason"],
        )
        return RevocationResultsSchema().dump(_results(outcomes, REVOKED))
