"""Bonuses: a plan first (the default), then a job that pays each one exactly once."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_restx import Namespace, Resource
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from crowdgate.api.auth import require_admin
from crowdgate.api.context import cursor_after, json_body, load, now, state
from crowdgate.api.jobs import start_job
from crowdgate.api.models import model, query_params
from crowdgate.api.platform_access import platform_client
from crowdgate.domain import bonus_files, bonuses, jobs, studies
from crowdgate.domain.bonus_plans import BonusPlan, Item, build_plan, plan_body, state_items
from crowdgate.domain.bonuses import DEFAULT_CONCURRENCY
from crowdgate.domain.confirmation import require_live_confirmation
from crowdgate.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from crowdgate.models import Job, Study
from crowdgate.platforms import Platform, get_platform
from crowdgate.schemas.bonuses import (
    BonusListArgsSchema,
    BonusPlanSchema,
    BonusRequestSchema,
    BonusSchema,
)
from crowdgate.schemas.common import ErrorSchema, page_of
from crowdgate.schemas.money import CENT
from crowdgate.schemas.review import JobStartedSchema

ns = Namespace("bonuses", path="/studies", description="Bonuses and their ledger (admin keys)")

error_model = model(ns, ErrorSchema, "Error")
request_model = model(ns, BonusRequestSchema, "BonusRequest")
plan_model = model(ns, BonusPlanSchema, "BonusPlan")
started_model = model(ns, JobStartedSchema, "JobStarted")
page_model = model(ns, page_of(BonusSchema, "BonusPage"), "BonusPage")

#: The form fields a CSV upload may send besides ``file``; they mean what the JSON
#: request's fields of the same names mean.
FORM_FIELDS = ("reason", "dry_run", "confirm")
#: The CSV lines of an uploaded file's items, by item index (None for a JSON request).
Lines = list[int] | None


def _items(session: Session, study: Study, options: dict[str, Any]) -> BonusPlan:
    default_reason = options["reason"]
    if "from_state" in options:
        items, without = state_items(session, study, options["from_state"], default_reason)
        return build_plan(session, study, items, without_value=without)
    items = [
        Item(
            worker_id=raw["worker_id"],
            amount=raw["amount"],
            reason=raw.get("reason") or default_reason,
            assignment_id=raw.get("assignment_id"),
            key=raw.get("key"),
        )
        for raw in options["items"]
    ]
    return build_plan(session, study, items)


def _options() -> tuple[dict[str, Any], Lines]:
    """The request's fields, from a JSON body or an uploaded CSV file."""
    if request.mimetype == "multipart/form-data":
        return _file_options()
    if not request.is_json:
        raise UnsupportedMediaType(
            "Send the bonuses as JSON (Content-Type: application/json), or a CSV file as "
            "multipart/form-data in the field 'file'."
        )
    return load(BonusRequestSchema(), json_body()), None


def _file_options() -> tuple[dict[str, Any], list[int]]:
    """The fields of a CSV upload, checked as the same items sent as JSON would be."""
    try:
        form = request.form.to_dict()
        uploads = request.files
    except RequestEntityTooLarge:
        limit = state().max_body_bytes
        raise PayloadTooLarge(
            f"The file is larger than the {limit} bytes crowdgate accepts in one request "
            "(CROWDGATE_MAX_BODY_BYTES): split it into smaller files.",
            fields={"file": [f"is larger than {limit} bytes"]},
        ) from None
    unknown = sorted((set(form) | set(uploads)) - {"file", *FORM_FIELDS})
    if unknown:
        raise ValidationFailed(
            f"A CSV upload takes the form fields file, {', '.join(FORM_FIELDS)}; "
            f"not {', '.join(unknown)}.",
            fields={name: ["is not a field of a CSV upload"] for name in unknown},
        )
    upload = uploads.get("file")
    if upload is None:
        raise ValidationFailed(
            "file is missing: send the CSV as the form field 'file' (or the bonuses as JSON).",
            fields={"file": ["is required"]},
        )
    rows = bonus_files.bonus_rows(upload.read())
    lines = [row.line for row in rows]
    try:
        options = load(BonusRequestSchema(), {**form, "items": [row.item for row in rows]})
    except ValidationFailed as exc:
        raise _on_lines(exc, lines) from None
    return options, lines


def _on_lines(exc: ValidationFailed, lines: list[int]) -> ValidationFailed:
    """The items' problems named by the file's line, not by the item's index."""
    fields: dict[str, Any] = {}
    named: list[str] = []
    for name, messages in exc.fields.items():
        parts = name.split(".", 2)
        if parts[0] != "items":
            fields[name] = messages
        elif len(parts) == 3 and parts[1].isdigit():
            named.append(f"line {lines[int(parts[1])]}: {parts[2]}: {' '.join(messages)}")
        else:
            named.append(f"the file has {len(lines)} bonuses: {' '.join(messages)}")
    if not named:
        return exc
    fields["file"] = named[:100]
    more = f" (and {len(named) - 1} more, listed in fields)" if len(named) > 1 else ""
    return ValidationFailed(
        f"The file cannot be read as bonuses: {named[0]}{more}",
        code="invalid_upload",
        fields=fields,
    )


def _with_line(item: dict[str, Any], lines: Lines) -> dict[str, Any]:
    return item if lines is None else {**item, "line": lines[item["index"]]}


def _with_lines(body: dict[str, Any], lines: Lines) -> dict[str, Any]:
    """The plan, with each item's CSV line when it is a plan of an uploaded file."""
    for name in ("refused", "items"):
        body[name] = [_with_line(item, lines) for item in body[name]]
    return body


def _refused(plan: BonusPlan, lines: Lines) -> ValidationFailed:
    if lines is None:
        named = {"items": [f"{r.index}: {r.code}" for r in plan.refused[:100]]}
    else:
        named = {"file": [f"line {lines[r.index]}: {r.code}" for r in plan.refused[:100]]}
    return ValidationFailed(
        f"{len(plan.refused)} of the items are refused; nothing was paid. "
        "Send them with dry_run (the default) to see why.",
        code="bonus_items_refused",
        fields=named,
        extra={"refused": [_with_line(r.body(), lines) for r in plan.refused]},
    )


def _can_pay(study: Study) -> Platform:
    """The study's platform, if it can pay bonuses (NotSupported, 409, if not)."""
    platform = get_platform(study.platform)
    platform.bonus_fee(CENT)
    return platform


def _concurrency() -> int:
    value = int(current_app.config.get("CROWDGATE_BONUS_CONCURRENCY") or DEFAULT_CONCURRENCY)
    return max(1, min(64, value))


@ns.route("/<string:slug>/bonuses")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(404, "No such study", error_model)
class StudyBonuses(Resource):
    @ns.doc(security="admin")
    @ns.expect(request_model)
    @ns.response(200, "The plan (a dry run, the default)", plan_model)
    @ns.response(202, "Paying: the job; Location points at it", started_model)
    @ns.response(409, "The study's platform cannot pay bonuses", error_model)
    @ns.response(
        422,
        "Invalid fields, refused items (nothing paid), or live mode without confirm",
        error_model,
    )
    @ns.response(413, "The body (an uploaded file) is over CROWDGATE_MAX_BODY_BYTES", error_model)
    @ns.response(415, "Neither JSON nor a multipart form with a CSV file", error_model)
    @ns.response(503, "The platform did not answer (balance)", error_model)
    def post(self, slug: str) -> Any:
        """Plan bonuses for a study's participants; pay them with dry_run false.

        The bonuses come as JSON, or as a CSV file sent as multipart/form-data: the file
        in the field ``file`` (columns worker_id or WorkerId or Participant id, amount,
        and optionally reason, assignment_id or AssignmentId, key) and the fields
        ``reason``, ``dry_run`` and ``confirm`` as form fields. A file's items are checked
        as the same items sent as JSON; problems and refused items name the file's line.
        """
        options, lines = _options()
        if options["dry_run"]:
            with state().db.read() as session:
                require_admin(session)
                study = studies.get_study(session, slug)
                platform = _can_pay(study)
                plan = _items(session, study, options)
                client = platform_client(study)
                balance = client.balance()
            body = plan_body(
                plan, fee_of=platform.bonus_fee, balance=balance, currency=client.currency
            )
            return BonusPlanSchema().dump(
                {"study": slug, "dry_run": True, **_with_lines(body, lines)}
            )

        def create(session: Session) -> Job:
            study = studies.get_study(session, slug, for_update=True)
            require_live_confirmation(
                study.mode,
                options.get("confirm"),
                why=f"Study {slug!r} is live: bonuses pay real money.",
                when="to pay bonuses in a live study",
            )
            _can_pay(study)
            platform_client(study)
            plan = _items(session, study, options)
            if plan.refused:
                raise _refused(plan, lines)
            params = {
                "platform": study.platform,
                "mode": study.mode,
                "concurrency": _concurrency(),
            }
            job = jobs.create_job(session, bonuses.KIND, study=study, params=params, now=now())
            bonuses.record(session, study, plan, job, now=now())
            return job

        return start_job(create)

    @ns.doc(security="admin", params=query_params(BonusListArgsSchema))
    @ns.response(200, "A page of the study's bonuses, oldest first", page_model)
    @ns.response(422, "Invalid filter", error_model)
    def get(self, slug: str) -> dict[str, Any]:
        """List the study's bonus ledger: each bonus, its state and its last error."""
        args = load(BonusListArgsSchema(), request.args)
        with state().db.read() as session:
            require_admin(session)
            study = studies.get_study(session, slug)
            found = bonuses.list_bonuses(
                session,
                study,
                state=args["state"],
                after=cursor_after(args["cursor"]),
                limit=args["limit"],
            )
            return {
                "items": BonusSchema(many=True).dump(found),
                "next_cursor": str(found[-1].id) if len(found) == args["limit"] else None,
            }
