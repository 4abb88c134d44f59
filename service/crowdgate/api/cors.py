"""CORS for survey endpoints: each study answers only the origins it lists.

flask-cors configures origins per route at start-up; here they come from each study's
row, so the check is made per request.
"""

from __future__ import annotations

from flask import g, request
from flask.wrappers import Response

from crowdgate.api.context import state
from crowdgate.domain.studies import allowed_origins
from crowdgate.domain.survey_reads import StudyView
from crowdgate.errors import Forbidden
from crowdgate.models import Study

ALLOWED_HEADERS = "Content-Type, X-Survey-Key, X-Request-ID, Idempotency-Key"
EXPOSED_HEADERS = "X-Request-ID, Retry-After, Idempotent-Replayed"


def _admits(allowed: list[str], origin: str) -> bool:
    # The page's own origin last: building host_url costs more than the list lookups.
    return "*" in allowed or origin in allowed or origin == request.host_url.rstrip("/")


def _admit(allowed: list[str] | None, origin: str, slug: str) -> None:
    """Remember an allowed origin; refuse any other (and any origin of a missing study)."""
    if allowed is None or not _admits(allowed, origin):
        raise Forbidden(
            f"Origin {origin or '(none)'} is not among the allowed origins of study {slug!r}.",
            code="origin_not_allowed",
        )
    g.crowdgate_cors_origin = origin


def check_origin(study: Study | StudyView) -> None:
    """Refuse a browser call from an origin the study does not list."""
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser's cross-origin call (Qualtrics' servers, scripts, curl)
    _admit(study.allowed_origins, origin, study.slug)


def _allowed_origins(slug: str) -> list[str] | None:
    with state().db.read() as session:
        return allowed_origins(session, slug)


def remember_allowed_origin(slug: str) -> None:
    """Let the study's allowed page read this answer; refuse no one (for answers replayed)."""
    origin = request.headers.get("Origin")
    if origin:
        allowed = _allowed_origins(slug)
        if allowed is not None and _admits(allowed, origin):
            g.crowdgate_cors_origin = origin


def preflight(slug: str) -> Response:
    """Answer a browser's preflight; a missing study answers as a refused origin does.

    Preflights carry no key, so a 404 here would tell anyone which studies exist.
    """
    _admit(_allowed_origins(slug), request.headers.get("Origin", ""), slug)
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH"
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def add_headers(response: Response) -> Response:
    """Let an allowed page read every answer, errors raised before the view's check too."""
    origin = g.get("crowdgate_cors_origin")
    request_origin = request.headers.get("Origin")
    if origin is None and request_origin and response.status_code >= 400:
        slug = (request.view_args or {}).get("slug")
        allowed = _allowed_origins(slug) if slug else None
        if allowed is not None and _admits(allowed, request_origin):
            origin = request_origin
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    # Set directly: response.vary parses and rewrites the header on every answer.
    vary = response.headers.get("Vary")
    if vary is None:
        response.headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin"
    return response
