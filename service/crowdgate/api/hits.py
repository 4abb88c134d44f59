"""Admin endpoints for a study's HITs: cost preview and creation, list, extend, expire."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_restx import Namespace, Resource

from crowdgate.api.auth import require_admin
from crowdgate.api.context import json_body, load, now, state
from crowdgate.api.models import model
from crowdgate.api.platform_access import client_for
from crowdgate.domain import hits
from crowdgate.domain.hit_plans import CostPlan, plan_costs
from crowdgate.domain.idempotency import HEADER
from crowdgate.platforms import Platform, PlatformClient, Posting, get_platform
from crowdgate.schemas.common import ErrorSchema
from crowdgate.schemas.hits import (
    HitCreateSchema,
    HitExtendSchema,
    HitListSchema,
    HitPlanSchema,
    HitSchema,
    HitsCreatedSchema,
)

ns = Namespace("hits", path="/studies/<string:slug>/hits", description="A study's HITs (admin)")

error_model = model(ns, ErrorSchema, "Error")
create_model = model(ns, HitCreateSchema, "HitCreate")
plan_model = model(ns, HitPlanSchema, "HitPlan")
created_model = model(ns, HitsCreatedSchema, "HitsCreated")
list_model = model(ns, HitListSchema, "HitList")
hit_model = model(ns, HitSchema, "Hit")
extend_model = model(ns, HitExtendSchema, "HitExtend")


def _study(slug: str) -> hits.StudyRef:
    with state().db.read() as session:
        require_admin(session)
        return hits.read_study(session, slug)


def _client(study: hits.StudyRef) -> PlatformClient:
    return client_for(current_app._get_current_object(), study.platform, study.mode)  # type: ignore[attr-defined]


def _plan_body(
    study: hits.StudyRef, platform: Platform, plan: CostPlan, values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "dry_run": values["dry_run"],
        "slug": study.slug,
        "platform": study.platform,
        "mode": study.mode,
        "reward": plan.reward,
        "assignments": values["assignments"],
        "micro_batches": plan.micro_batches,
        "hits": [
            {
                "index": c.index,
                "assignments": c.assignments,
                "rewards": c.rewards,
                "fees": c.fees,
                "total": c.total,
            }
            for c in plan.hits
        ],
        "single": _totals(plan.single),
        "micro": _totals(plan.micro),
        "total": plan.total,
        "saving": plan.saving,
        "balance": plan.balance,
        "currency": platform.currency,
        "sufficient": plan.sufficient,
        "survey_url": hits.survey_url(study, values.get("survey_url")),
        "requirements": [
            {
                "qualification_type_id": r.qualification_type_id,
                "comparator": r.comparator,
                "integer_values": list(r.integer_values),
                "locale_values": [dict(v) for v in r.locale_values],
            }
            for r in hits.requirements(
                study.platform,
                values,
                study.exclusion_qualification_id,
                study.group_requirements,
            )
        ],
        "exclusion_qualification_id": study.exclusion_qualification_id,
        "unenforced_groups": list(study.unenforced_groups),
    }


def _totals(totals: Any) -> dict[str, Any]:
    return {
        "hits": totals.hits,
        "assignments": totals.assignments,
        "rewards": totals.rewards,
        "fees": totals.fees,
        "total": totals.total,
    }


def _view(study: hits.StudyRef, posting: Posting) -> dict[str, Any]:
    return hits.posting_view(posting, get_platform(study.platform).worker_url(study.mode, posting))


@ns.route("")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
@ns.response(409, "The study's platform has no HITs", error_model)
class HitList(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The study's HITs with their counts from the platform now", list_model)
    def get(self, slug: str) -> dict[str, Any]:
        """List the study's HITs as the platform reports them."""
        study = _study(slug)
        hits.require_postings(study.platform)
        client = _client(study)
        items: list[dict[str, Any]] = []
        for found in hits.list_hits(client, study):
            if isinstance(found, Posting):
                items.append(_view(study, found))
            else:
                items.append(hits.problem_view(*found))
        return HitListSchema().dump({"items": items})

    @ns.doc(security="admin")
    @ns.expect(create_model)
    @ns.response(200, "Dry run: the HITs it would create, their cost and the balance", plan_model)
    @ns.response(201, "Created: the HITs, with ids and where workers find them", created_model)
    @ns.response(409, "No HITs on this platform, or the balance does not cover them", error_model)
    @ns.response(422, "Invalid fields, or live mode without confirm", error_model)
    def post(self, slug: str) -> tuple[dict[str, Any], int]:
        """Preview the cost of a study's HITs (the default), or create them (dry_run: false).

        Micro-batches split the assignments into HITs of at most 9 (the lower fee), each
        excluding the workers of the others through the study's qualification type.
        """
        values = load(HitCreateSchema(), json_body())
        study = _study(slug)
        hits.require_postings(study.platform)
        platform = get_platform(study.platform)
        client = _client(study)
        url = hits.survey_url(study, values["survey_url"])
        if not values["dry_run"]:
            hits.require_live_spending(study.mode, values["confirm"], "creating HITs")
        plan = plan_costs(
            platform,
            values["reward"],
            values["assignments"],
            micro_batches=values["micro_batches"],
            balance=client.balance(),
        )
        if values["dry_run"]:
            return HitPlanSchema().dump(_plan_body(study, platform, plan, values)), 200
        hits.refuse_insufficient(plan, platform.currency)
        key = hits.request_key(values, request.headers.get(HEADER))
        created = hits.create_hits(
            state().db, client, study, plan, {**values, "survey_url": url}, key=key, now=now()
        )
        study = _study(slug)  # with the exclusion qualification the creation stored
        body = _plan_body(study, platform, plan, values)
        body["hits"] = [
            {**costs, **_view(study, made.posting)}
            for costs, made in zip(body["hits"], created, strict=True)
        ]
        return HitsCreatedSchema().dump(body), 201


@ns.route("/<string:hit_id>/extend")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study, or the HIT is not the study's", error_model)
@ns.response(409, "The study's platform has no HITs", error_model)
class HitExtend(Resource):
    @ns.doc(security="admin")
    @ns.expect(extend_model)
    @ns.response(200, "The HIT after the change", hit_model)
    @ns.response(422, "Invalid fields, or live mode without confirm", error_model)
    def post(self, slug: str, hit_id: str) -> dict[str, Any]:
        """Add assignments to one of the study's HITs and/or push its expiry later."""
        values = load(HitExtendSchema(), json_body())
        study = _study(slug)
        hits.require_postings(study.platform)
        hits.study_hit(study, hit_id)
        posting = hits.extend_hit(_client(study), study, hit_id, values, now=now())
        return HitSchema().dump(_view(study, posting))


@ns.route("/<string:hit_id>/expire")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study, or the HIT is not the study's", error_model)
@ns.response(409, "The study's platform has no HITs", error_model)
class HitExpire(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The HIT, now expired: no new worker can take it", hit_model)
    def post(self, slug: str, hit_id: str) -> dict[str, Any]:
        """Expire one of the study's HITs now; workers already on it may still submit."""
        study = _study(slug)
        hits.require_postings(study.platform)
        hits.study_hit(study, hit_id)
        posting = hits.expire_hit(_client(study), study, hit_id)
        return HitSchema().dump(_view(study, posting))
