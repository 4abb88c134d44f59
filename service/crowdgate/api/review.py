"""Review a synced study (a plan, then a job that applies it), and reconcile uploaded files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, request
from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from crowdgate.api.auth import require_admin
from crowdgate.api.context import json_body, load, now, state
from crowdgate.api.jobs import start_job
from crowdgate.api.models import model
from crowdgate.api.platform_access import platform_client
from crowdgate.domain import jobs, review, studies
from crowdgate.domain.confirmation import require_live_confirmation
from crowdgate.domain.reconcile_files import reconcile
from crowdgate.domain.review_plans import PlanItem, plan_body, plan_csv
from crowdgate.errors import UnsupportedMediaType, ValidationFailed
from crowdgate.models import Job
from crowdgate.platforms import get_platform
from crowdgate.schemas.common import ErrorSchema
from crowdgate.schemas.review import (
    JobStartedSchema,
    PlanSchema,
    ReconcileFormSchema,
    ReviewRequestSchema,
)

ns = Namespace("review", path="/studies", description="Review of synced studies (admin keys)")
files_ns = Namespace(
    "reconcile", path="/reconcile", description="Uploaded files reconciled (admin keys)"
)

error_model = model(ns, ErrorSchema, "Error")
request_model = model(ns, ReviewRequestSchema, "ReviewRequest")
plan_model = model(ns, PlanSchema, "Plan")
started_model = model(ns, JobStartedSchema, "JobStarted")

files_error_model = model(files_ns, ErrorSchema, "Error")
files_plan_model = model(files_ns, PlanSchema, "Plan")
upload_parser = files_ns.parser()
upload_parser.add_argument("batch", location="files", type="file", required=True)
upload_parser.add_argument("survey", location="files", type="file", required=True)
for _name, _field in ReconcileFormSchema._declared_fields.items():
    upload_parser.add_argument(
        _name,
        location="form",
        required=_field.required,
        help=_field.metadata.get("description", ""),
    )


def _wants_csv(fmt: str) -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return fmt == "csv" or (
        best == "text/csv" and "application/json" not in request.accept_mimetypes
    )


def _plan_answer(items: Sequence[PlanItem], study: str | None, fmt: str, name: str) -> Any:
    if _wants_csv(fmt):
        return Response(
            "".join(plan_csv(items)),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-review.csv"'},
        )
    return {"study": study, "dry_run": True, **plan_body(items)}


@ns.route("/<string:slug>/review")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class StudyReview(Resource):
    @ns.doc(security="admin")
    @ns.expect(request_model)
    @ns.produces(["application/json", "text/csv"])
    @ns.response(200, "The plan (a dry run, the default); CSV with Accept: text/csv", plan_model)
    @ns.response(202, "Applying the plan: the job; Location points at it", started_model)
    @ns.response(409, "The study has no HIT ids or no platform", error_model)
    @ns.response(422, "Invalid fields, or live mode without confirm", error_model)
    def post(self, slug: str) -> Any:
        """Plan the review of a synced study's submissions; apply it with dry_run false."""
        body = json_body() if request.content_length else {}
        options = load(ReviewRequestSchema(), body)
        fmt = request.args.get("format", options["format"])
        if fmt not in ("json", "csv"):
            raise ValidationFailed(
                "format is json or csv.", fields={"format": ["must be json or csv"]}
            )
        if options["dry_run"]:
            with state().db.read() as session:
                require_admin(session)
                study = studies.get_study(session, slug)
                return _plan_answer(review.build_plan(session, study), slug, fmt, slug)

        def create(session: Session) -> Job:
            study = studies.get_study(session, slug)
            require_live_confirmation(
                study.mode,
                options.get("confirm"),
                why=f"Study {slug!r} is live: approvals and rejections move real money and "
                "reputations.",
                when="to review a live study",
            )
            review.check_reviewable(study)
            category = options.get("rejection_category")
            if options["reject_invalid"]:
                # Refused here, not midway through the job after some approvals.
                get_platform(study.platform).check_rejection(
                    options.get("reject_feedback", ""),
                    "reject_feedback",
                    category=category,
                    category_field="rejection_category",
                )
            platform_client(study)
            params = {
                "feedback": options["feedback"],
                "reject_invalid": options["reject_invalid"],
                "reject_feedback": options.get("reject_feedback", ""),
                "rejection_category": category,
            }
            return jobs.create_job(session, review.KIND, study=study, params=params, now=now())

        return start_job(create)


@files_ns.route("")
@files_ns.response(401, "No key or a wrong key", files_error_model)
@files_ns.response(403, "Not an admin key", files_error_model)
class Reconcile(Resource):
    @files_ns.doc(security="admin")
    @files_ns.expect(upload_parser)
    @files_ns.produces(["application/json", "text/csv"])
    @files_ns.response(200, "The plan; CSV with Accept: text/csv or format=csv", files_plan_model)
    @files_ns.response(415, "Not a multipart form", files_error_model)
    @files_ns.response(422, "A file or column is missing or unreadable", files_error_model)
    def post(self) -> Any:
        """Match an MTurk batch results CSV against a survey export, calling no platform."""
        with state().db.read() as session:
            require_admin(session)
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType(
                "Send the files as multipart/form-data with fields batch and survey."
            )
        options = load(ReconcileFormSchema(), request.form.to_dict())
        files = {}
        for name in ("batch", "survey"):
            upload = request.files.get(name)
            if upload is None:
                raise ValidationFailed(
                    f"{name} is missing: send the file as the form field {name!r}.",
                    fields={name: ["is required"]},
                )
            files[name] = upload.read()
        items = reconcile(
            files["batch"],
            files["survey"],
            code_column=options["code_column"],
            worker_column=options.get("worker_column"),
            batch_code_column=options["batch_code_column"],
        )
        fmt = request.args.get("format", options["format"])
        return _plan_answer(items, None, fmt, "reconcile")
