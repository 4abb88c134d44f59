"""Hooks platforms send when a submission changes status, applied to the record at once.

No admin key: Prolific signs each delivery with the workspace's hook secret
(CROWDGATE_PROLIFIC_WEBHOOK_SECRET). Sync stays the fallback for anything a hook
missed or could not be matched to a participant.

A delivery whose signature checks out does not count against the survey rate limit:
Prolific sends bursts of hooks from a few addresses. One without a valid signature
counts like any other anonymous call. Each process forgets handled event ids older
than CROWDGATE_WEBHOOK_EVENT_RETENTION_DAYS, checking at most hourly, as hooks arrive.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app, g, request
from flask_restx import Namespace, Resource
from marshmallow import Schema, fields
from sqlalchemy.exc import SQLAlchemyError

from crowdgate.api.context import now, state
from crowdgate.api.models import model
from crowdgate.api.platform_access import platform_client
from crowdgate.domain import submission_hooks, sync
from crowdgate.errors import Conflict, Unauthorized, ValidationFailed
from crowdgate.models import Study
from crowdgate.platforms import PlatformRejected, PlatformUnavailable, Submission
from crowdgate.platforms import prolific_hooks as hooks
from crowdgate.platforms.failures import NotSupported, PlatformError
from crowdgate.schemas.common import ErrorSchema

PLATFORM = "prolific"
SECRET_SETTING = "CROWDGATE_PROLIFIC_WEBHOOK_SECRET"
RETENTION_SETTING = "CROWDGATE_WEBHOOK_EVENT_RETENTION_DAYS"

log = logging.getLogger(__name__)

ns = Namespace(
    "webhooks", path="/webhooks", description="Called by platforms, signed with their secret"
)


class HookResultSchema(Schema):
    event_type = fields.String(metadata={"description": "the event's type, as the platform says"})
    duplicate = fields.Boolean(
        metadata={"description": "the event id was handled before: nothing was done again"}
    )
    ignored = fields.Boolean(metadata={"description": "an event type crowdgate does not act on"})
    matched = fields.Boolean(
        metadata={"description": "the submission belongs to a participant in the record"}
    )
    result = fields.String(
        allow_none=True,
        metadata={"description": "what became of the record: updated, unchanged or flagged"},
    )


error_model = model(ns, ErrorSchema, "Error")
result_model = model(ns, HookResultSchema, "HookResult")


def _signature_problem(secret: str) -> hooks.BadHook | None:
    """What is wrong with the delivery's signature, or None; checked once per request,
    since the rate limit asks before the view does."""
    if "crowdgate_hook_problem" not in g:
        try:
            hooks.verify(
                secret,
                request.headers.get(hooks.TIMESTAMP_HEADER),
                request.headers.get(hooks.SIGNATURE_HEADER),
                request.get_data(cache=True),
                now().timestamp(),
            )
        except hooks.BadHook as exc:
            g.crowdgate_hook_problem = exc
        else:
            g.crowdgate_hook_problem = None
    problem: hooks.BadHook | None = g.crowdgate_hook_problem
    return problem


def signed_delivery() -> bool:
    """Whether the request is a delivery to the Prolific hook endpoint that Prolific
    signed; such deliveries are exempt from the survey rate limit."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method != "POST" or getattr(view, "view_class", None) is not ProlificHooks:
        return False
    secret = current_app.config.get(SECRET_SETTING)
    return bool(secret) and _signature_problem(str(secret)) is None


def _verified() -> hooks.Hook:
    secret = current_app.config.get(SECRET_SETTING)
    if not secret:
        raise Conflict(
            f"Prolific hooks cannot be checked: set {SECRET_SETTING} to the workspace's hook "
            "secret (Prolific's POST /api/v1/hooks/secrets/).",
            code="webhook_secret_not_set",
        )
    problem = _signature_problem(str(secret))
    if problem is not None:
        raise Unauthorized(
            f"The hook is not signed by Prolific: {problem}.",
            code="invalid_webhook_signature",
            fields={problem.field: [problem.problem]},
        )
    raw = request.get_data(cache=True)
    try:
        return hooks.parse(raw)
    except hooks.BadHook as exc:
        raise ValidationFailed(f"The hook {exc}.", fields={exc.field: [exc.problem]}) from None


def _event_id() -> str | None:
    event_id = request.headers.get(hooks.EVENT_ID_HEADER, "").strip()
    if len(event_id) > submission_hooks.MAX_EVENT_ID:
        problem = f"is longer than {submission_hooks.MAX_EVENT_ID} characters"
        raise ValidationFailed(
            f"{hooks.EVENT_ID_HEADER} {problem}.", fields={hooks.EVENT_ID_HEADER: [problem]}
        )
    # Without an id a delivery cannot be told from a repeat; it is applied all the same,
    # which changes nothing the second time.
    return event_id or None


def _fetched(study: Study | None, submission_id: str) -> Submission | None:
    """The submission as Prolific has it now; None when it does not know it."""
    if study is None:
        return None
    try:
        return platform_client(study).get_submission(submission_id)
    except PlatformUnavailable:
        raise  # a 503 makes Prolific deliver the event again later
    except PlatformRejected:
        return None
    except (PlatformError, NotSupported) as exc:
        log.warning("hook for submission %s not applied: %s", submission_id, exc.message)
        return None


def _submission_changed(hook: hooks.Hook, event_id: str | None) -> dict[str, Any]:
    db = state().db
    answer: dict[str, Any] = {"event_type": hook.event_type, "duplicate": False}
    with db.read() as session:
        if event_id is not None and submission_hooks.seen(session, event_id):
            return {**answer, "duplicate": True}
        participant = submission_hooks.by_assignment(session, PLATFORM, hook.resource_id)
        known = None
        if participant is not None and hook.status is not None:
            known = submission_hooks.as_recorded(
                participant, hook.status, hook.platform_status or ""
            )
        reader = (
            session.get(Study, participant.study_id)
            if participant is not None
            else submission_hooks.any_study(session, PLATFORM)
        )
        target = participant.study_id if participant is not None else None
    if hook.status is None:
        # A place still held or under way: nothing the record keeps yet.
        submission = None
    elif known is not None:
        submission = known
    else:
        # The record lacks this submission or its study: only Prolific can say which.
        submission = _fetched(reader, hook.resource_id)
    with db.write() as session:
        if event_id is not None and not submission_hooks.claim(
            session, event_id, hook.event_type, hook.resource_id, now=now()
        ):
            return {**answer, "duplicate": True}
        if submission is None:
            return {**answer, "matched": participant is not None, "result": None}
        study = (
            session.get(Study, target)
            if target is not None
            else submission_hooks.study_holding(session, PLATFORM, submission)
        )
        if study is None:
            return {**answer, "matched": False, "result": None}
        result = sync.apply_submission(session, study, submission, now())
    return {**answer, "matched": True, "result": result}


def _other_event(hook: hooks.Hook, event_id: str | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"event_type": hook.event_type, "ignored": True, "duplicate": False}
    if event_id is not None:
        with state().db.write() as session:
            claimed = submission_hooks.claim(
                session, event_id, hook.event_type, hook.resource_id, now=now()
            )
        answer["duplicate"] = not claimed
    return answer


def _purge_old_events() -> None:
    """Forget handled event ids past the retention, at most hourly in each process:
    Prolific stops repeating an event long before."""
    schedule = state().webhook_event_purge
    moment = now()
    if not schedule.due(moment):
        return
    before = moment - timedelta(days=int(current_app.config[RETENTION_SETTING]))
    try:
        with state().db.write() as session:
            gone = submission_hooks.purge(session, before=before)
    except SQLAlchemyError:
        # The event itself is handled and stored; a purge missed now is done next time.
        log.warning("old webhook events not purged", exc_info=True)
        return
    if gone >= submission_hooks.PURGE_BATCH:
        schedule.again()  # more are left: the next delivery takes the next batch


@ns.route("/prolific")
class ProlificHooks(Resource):
    @ns.doc(
        security=[],
        params={
            hooks.TIMESTAMP_HEADER: {"in": "header", "type": "string", "required": True},
            hooks.SIGNATURE_HEADER: {"in": "header", "type": "string", "required": True},
            hooks.EVENT_ID_HEADER: {"in": "header", "type": "string"},
        },
    )
    @ns.response(200, "Handled, a repeat, or an event crowdgate does not act on", result_model)
    @ns.response(401, "A signature or timestamp header missing, wrong or too old", error_model)
    @ns.response(409, "CROWDGATE_PROLIFIC_WEBHOOK_SECRET is not set", error_model)
    @ns.response(422, "A signed body that is not a hook", error_model)
    @ns.response(503, "Prolific could not be asked about the submission", error_model)
    def post(self) -> dict[str, Any]:
        """Receive one of Prolific's hooks (Prolific calls this, not researchers)."""
        hook = _verified()
        event_id = _event_id()
        if hook.event_type == hooks.SUBMISSION_EVENT:
            answer = _submission_changed(hook, event_id)
        else:
            answer = _other_event(hook, event_id)
        _purge_old_events()
        return answer
