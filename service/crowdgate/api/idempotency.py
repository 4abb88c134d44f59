"""The Idempotency-Key header on every POST: repeats get the first answer back.

Runs around the view, from the blueprint's before- and after-request hooks; POSTs
without the header, and every other method, pass through untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import current_app, g, request
from flask.wrappers import Response

from crowdgate.api import cors
from crowdgate.api.auth import survey_key_given
from crowdgate.api.context import FORM_TYPES, now, state
from crowdgate.domain import idempotency
from crowdgate.domain.idempotency import HEADER, Answer, KeyedRequest, KeyOwner, Started
from crowdgate.errors import ValidationFailed

REPLAYED = "Idempotent-Replayed"
# What a replay needs to mean the same; request ids, CORS and Vary are the new request's.
KEPT_HEADERS = ("Content-Type", "Content-Disposition", "Content-Language", "Location")

log = logging.getLogger(__name__)


def _owner() -> KeyOwner | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return KeyOwner("admin", token.strip())
    key = survey_key_given()
    return KeyOwner("survey", key) if key else None


def _body_digest() -> bytes:
    if request.mimetype in FORM_TYPES:
        # A multipart boundary differs on every send; the fields are what count.
        fields = sorted(request.form.items(multi=True))
        files = sorted(
            (name, file.filename or "", hashlib.sha256(file.read()).hexdigest())
            for name, file in request.files.items(multi=True)
        )
        for file in request.files.values():
            file.seek(0)
        return json.dumps([fields, files]).encode()
    return request.get_data(cache=True)


def fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (
        request.method.encode(),
        request.path.encode(),
        request.query_string,
        request.mimetype.encode(),
        _body_digest(),
    ):
        # Length-prefixed, so that no two different requests run together the same way.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def before() -> Response | None:
    """Claim the key, or answer a repeat with the stored response."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    problem = idempotency.key_problem(key)
    if problem is not None:
        raise ValidationFailed(
            f"The {HEADER} header {problem}.",
            code="invalid_idempotency_key",
            fields={HEADER: [problem]},
        )
    owner = _owner()
    if owner is None:
        return None  # the view refuses the missing or malformed key as it always has
    crowdgate = state()
    if crowdgate.idempotency_purge.due(now()):
        idempotency.purge(crowdgate.db, now=now())
    keyed = KeyedRequest(
        owner=owner,
        key=key,
        request_line=f"{request.method} {request.path}",
        fingerprint=fingerprint(),
    )
    outcome = idempotency.begin(crowdgate.db, keyed, now=now())
    if isinstance(outcome, Started):
        g.crowdgate_idempotency = outcome.record_id
        return None
    if outcome is None:
        return None
    return _replay(outcome)


def _replay(answer: Answer) -> Response:
    response = current_app.response_class(answer.body, status=answer.status)
    response.headers.update(answer.headers)
    response.headers[REPLAYED] = "true"
    slug = (request.view_args or {}).get("slug")
    if slug:
        # The view, which admits a page's origin, does not run for a replay.
        cors.remember_allowed_origin(slug)
    return response


def after(response: Response) -> Response:
    """Store the answer for the key's repeats; a server error frees the key instead."""
    record_id: int | None = g.pop("crowdgate_idempotency", None)
    if record_id is None:
        return response
    db = state().db
    try:
        if response.status_code >= 500 or response.direct_passthrough:
            idempotency.release(db, record_id)
        else:
            headers: dict[str, Any] = {
                name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
            }
            answer = Answer(response.status_code, headers, response.get_data())
            idempotency.finish(db, record_id, answer, now=now())
    except Exception:
        # The request has acted: its answer still goes out. The placeholder stays, so a
        # repeat is refused rather than allowed to act a second time.
        log.exception("could not store the answer for idempotency record %s", record_id)
    return response


PARAMETER = {
    "name": HEADER,
    "in": "header",
    "type": "string",
    "maxLength": 255,
    "required": False,
    "description": (
        "Any unique printable string (a UUID). A repeat with the same key and the same "
        "request gets the first answer, with Idempotent-Replayed: true, for at least 24 "
        "hours, without acting again; the same key on a different request is a 422, and "
        "a repeat while the first is still running a 409."
    ),
}


def document(spec: dict[str, Any]) -> None:
    """Name the header on every POST of the OpenAPI spec (once, however often called)."""
    for operations in spec.get("paths", {}).values():
        post = operations.get("post")
        if post is not None:
            parameters = post.setdefault("parameters", [])
            if not any(p.get("name") == HEADER and p.get("in") == "header" for p in parameters):
                parameters.append(PARAMETER)
