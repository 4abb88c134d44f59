"""Messages to a study's workers: a plan first (the default), then a job that sends each
worker the message at most once."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session

from crowdgate.api.auth import require_admin
from crowdgate.api.context import cursor_after, json_body, load, now, state
from crowdgate.api.jobs import start_job
from crowdgate.api.models import model, query_params
from crowdgate.api.platform_access import platform_client
from crowdgate.domain import jobs, message_reads, messages, studies
from crowdgate.domain.confirmation import require_live_confirmation
from crowdgate.domain.message_plans import MessagePlan, Selection, build_plan, plan_body
from crowdgate.errors import NotFound, ValidationFailed
from crowdgate.models import Job, Study
from crowdgate.platforms import Platform, get_platform
from crowdgate.schemas.common import ErrorSchema, PageArgsSchema, page_of
from crowdgate.schemas.messages import (
    MessagePlanSchema,
    MessageRecipientSchema,
    MessageRequestSchema,
    MessageSchema,
    RecipientListArgsSchema,
)
from crowdgate.schemas.review import JobStartedSchema

ns = Namespace("messages", path="/studies", description="Messages to workers (admin keys)")

error_model = model(ns, ErrorSchema, "Error")
request_model = model(ns, MessageRequestSchema, "MessageRequest")
plan_model = model(ns, MessagePlanSchema, "MessagePlan")
started_model = model(ns, JobStartedSchema, "JobStarted")
page_model = model(ns, page_of(MessageSchema, "MessagePage"), "MessagePage")
recipients_model = model(
    ns, page_of(MessageRecipientSchema, "MessageRecipientPage"), "MessageRecipientPage"
)


def _can_message(study: Study, options: dict[str, Any]) -> Platform:
    """The study's platform, if it can send these words (NotSupported, 409, if it has no
    messages; 422 naming the field for a subject or body over its limits)."""
    platform = get_platform(study.platform)
    platform.check_message(options["subject"], options["body"])
    return platform


def _plan(
    session: Session, study: Study, platform: Platform, options: dict[str, Any]
) -> MessagePlan:
    selection = Selection(
        worker_ids=options.get("worker_ids"),
        statuses=options.get("status"),
        condition=options.get("condition"),
    )
    return build_plan(
        session,
        study,
        platform,
        selection,
        subject=options["subject"],
        body=options["body"],
        key=options.get("key"),
    )


@ns.route("/<string:slug>/messages")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class StudyMessages(Resource):
    @ns.doc(security="admin")
    @ns.expect(request_model)
    @ns.response(200, "The plan (a dry run, the default)", plan_model)
    @ns.response(202, "Sending: the job; Location points at it", started_model)
    @ns.response(
        409,
        "The study's platform cannot message workers, or the key names other words",
        error_model,
    )
    @ns.response(
        422,
        "Invalid fields, a subject or body over the platform's limits, refused workers "
        "(nothing sent), or live mode without confirm",
        error_model,
    )
    def post(self, slug: str) -> Any:
        """Plan a message to a study's workers; send it with dry_run false."""
        options = load(MessageRequestSchema(), json_body())
        if options["dry_run"]:
            with state().db.read() as session:
                require_admin(session)
                study = studies.get_study(session, slug)
                platform = _can_message(study, options)
                body = plan_body(_plan(session, study, platform, options))
            return MessagePlanSchema().dump({"study": slug, "dry_run": True, **body})

        def create(session: Session) -> Job:
            study = studies.get_study(session, slug, for_update=True)
            require_live_confirmation(
                study.mode,
                options.get("confirm"),
                why=f"Study {slug!r} is live: the message goes to real workers.",
                when="to message workers in a live study",
            )
            platform = _can_message(study, options)
            platform_client(study)
            plan = _plan(session, study, platform, options)
            if plan.refused:
                raise ValidationFailed(
                    f"{len(plan.refused)} of the workers are refused; nothing was sent. "
                    "Send them with dry_run (the default) to see why.",
                    code="message_recipients_refused",
                    fields={"worker_ids": [f"{r.index}: {r.code}" for r in plan.refused[:100]]},
                    extra={"refused": [r.body() for r in plan.refused]},
                )
            job = jobs.create_job(session, messages.KIND, study=study, params={}, now=now())
            message = messages.record(
                session,
                study,
                plan,
                job,
                subject=options["subject"],
                body=options["body"],
                now=now(),
            )
            job.total = plan.count  # a progress bar's length while the job is queued
            job.params = {
                "platform": study.platform,
                "mode": study.mode,
                "message_id": message.id,
                "key": plan.key,
            }
            return job

        return start_job(create)

    @ns.doc(security="admin", params=query_params(PageArgsSchema))
    @ns.response(200, "A page of the study's messages, oldest first", page_model)
    @ns.response(422, "Invalid paging", error_model)
    def get(self, slug: str) -> dict[str, Any]:
        """List the study's messages, each with its recipients counted by outcome."""
        args = load(PageArgsSchema(), request.args)
        with state().db.read() as session:
            require_admin(session)
            study = studies.get_study(session, slug)
            found = message_reads.list_messages(
                session, study, after=cursor_after(args["cursor"]), limit=args["limit"]
            )
            items = [
                {**MessageSchema().dump(message), "counts": counts} for message, counts in found
            ]
            return {
                "items": items,
                "next_cursor": str(found[-1][0].id) if len(found) == args["limit"] else None,
            }


@ns.route("/<string:slug>/messages/<int:message_id>/recipients")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study or message", error_model)
class MessageRecipients(Resource):
    @ns.doc(security="admin", params=query_params(RecipientListArgsSchema))
    @ns.response(200, "A page of the message's recipients, oldest first", recipients_model)
    @ns.response(422, "Invalid filter", error_model)
    def get(self, slug: str, message_id: int) -> dict[str, Any]:
        """List a message's recipients: each worker's state, outcome and the platform's word."""
        args = load(RecipientListArgsSchema(), request.args)
        with state().db.read() as session:
            require_admin(session)
            study = studies.get_study(session, slug)
            message = message_reads.get_message(session, study, message_id)
            if message is None:
                raise NotFound(
                    f"Study {slug!r} has no message {message_id}.", code="message_not_found"
                )
            found = message_reads.list_recipients(
                session,
                message,
                state=args["state"],
                outcome=args["outcome"],
                after=cursor_after(args["cursor"]),
                limit=args["limit"],
            )
            return {
                "items": MessageRecipientSchema(many=True).dump(found),
                "next_cursor": str(found[-1].id) if len(found) == args["limit"] else None,
            }
