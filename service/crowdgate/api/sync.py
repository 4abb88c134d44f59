"""Sync a study's submissions from its platform into the record."""

from __future__ import annotations

from typing import Any

from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from crowdgate.api.context import now
from crowdgate.api.jobs import start_job
from crowdgate.api.models import model
from crowdgate.api.platform_access import platform_client
from crowdgate.domain import jobs, studies, sync
from crowdgate.models import Job
from crowdgate.schemas.common import ErrorSchema
from crowdgate.schemas.review import JobStartedSchema

ns = Namespace("sync", path="/studies", description="Platform sync (admin keys)")

error_model = model(ns, ErrorSchema, "Error")
started_model = model(ns, JobStartedSchema, "JobStarted")


@ns.route("/<string:slug>/sync")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class StudySync(Resource):
    @ns.doc(security="admin")
    @ns.response(202, "The sync job; Location points at it", started_model)
    @ns.response(409, "The study has no HIT ids or no platform", error_model)
    def post(self, slug: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Pull every submission on the study's HITs into the record, as a job."""

        def create(session: Session) -> Job:
            study = studies.get_study(session, slug)
            sync.check_syncable(study)
            # A platform that cannot list submissions refuses at the call (409), before
            # any job exists; the empty list makes no request on platforms that can.
            platform_client(study).list_submissions([])
            return jobs.create_job(session, sync.KIND, study=study, params={}, now=now())

        return start_job(create)
