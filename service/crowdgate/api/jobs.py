"""Jobs: their progress, and how the endpoints that start them answer (202 + job_id)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from crowdgate.api.auth import require_admin
from crowdgate.api.context import now, state
from crowdgate.api.models import model
from crowdgate.api.platform_access import client_for
from crowdgate.domain import job_kinds, jobs
from crowdgate.errors import Conflict
from crowdgate.models import Job
from crowdgate.schemas.common import ErrorSchema
from crowdgate.schemas.jobs import JobSchema

ns = Namespace("jobs", path="/jobs", description="Bulk jobs and their progress (admin keys)")

#: Every kind a request may queue is registered before any request runs.
KINDS = job_kinds.KINDS

error_model = model(ns, ErrorSchema, "Error")
job_model = model(ns, JobSchema, "Job")


def job_body(session: Session, job: Job) -> dict[str, Any]:
    body: dict[str, Any] = JobSchema().dump(job)
    body["study"] = jobs.study_slug(session, job)
    body.update(jobs.pace(job, now=now()))
    return body


def start_job(create: Callable[[Session], Job]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Commit a queued job made by ``create``, and answer 202 with where to look.

    With CROWDGATE_JOB_RUNNER=inline (the default) this request runs the job and the
    answer shows it finished; with ``queue`` a job runner (``crowdgate worker``, or the
    one ``crowdgate serve`` starts) runs it and the answer shows it queued.
    """
    with state().db.write() as session:
        require_admin(session)
        job_id = create(session).id
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("CROWDGATE_JOB_RUNNER", "inline") != "queue":
        jobs.run_job(
            state().db,
            job_id,
            clock=state().clock,
            connect=functools.partial(client_for, app),
        )
    with state().db.read() as session:
        body = job_body(session, jobs.get_job(session, job_id))
    location = f"{state().api_path}/jobs/{job_id}"
    return {"job_id": job_id, "state": body["state"], "job": body}, 202, {"Location": location}


@ns.route("/<string:job_id>")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such job", error_model)
class JobItem(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The job's state and counts", job_model)
    def get(self, job_id: str) -> dict[str, Any]:
        """Read a job: its state, counts, error and result."""
        with state().db.read() as session:
            require_admin(session)
            return job_body(session, jobs.get_job(session, job_id))


@ns.route("/<string:job_id>/cancel")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such job", error_model)
class JobCancel(Resource):
    @ns.doc(security="admin")
    @ns.response(200, "The job, cancelled or asked to stop", job_model)
    @ns.response(409, "The job has finished", error_model)
    def post(self, job_id: str) -> dict[str, Any]:
        """Cancel a job: a queued one at once; a running one stops before its next
        batch, and the items it has not sent stay unsent (``cancel_requested``)."""
        with state().db.write() as session:
            require_admin(session)
            job = jobs.get_job(session, job_id)
            if not jobs.cancel(session, job, now=now()):
                raise Conflict(
                    f"Job {job_id} has {job.state}: there is nothing left to cancel.",
                    code="job_not_cancellable",
                )
            session.refresh(job)
            return job_body(session, job)
