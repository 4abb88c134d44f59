"""CORS for survey endpoints: each study answers only the origins it lists.

flask-cors configures origins per route at start-up; here they come from each study's
row, so the check is made per request.
"""

from __future__ import annotations

from flask import g, request
from flask.wrappers import Response

from crowdgate.errors import Forbidden
from crowdgate.models import Study

ALLOWED_HEADERS = "Content-Type, X-Survey-Key, X-Request-ID, Idempotency-Key"
EXPOSED_HEADERS = "X-Request-ID, Retry-After"


def origin_allowed(study: Study, origin: str) -> bool:
    own = request.host_url.rstrip("/")
    return origin == own or "*" in study.allowed_origins or origin in study.allowed_origins


def check_origin(study: Study) -> None:
    """Refuse a browser call from an origin the study does not list; remember an allowed one."""
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser's cross-origin call (Qualtrics' servers, scripts, curl)
    if not origin_allowed(study, origin):
        raise Forbidden(
            f"Origin {origin} is not among the allowed origins of study {study.slug!r}.",
            code="origin_not_allowed",
        )
    g.crowdgate_cors_origin = origin


def preflight(study: Study) -> Response:
    check_origin(study)
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH"
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def add_headers(response: Response) -> Response:
    origin = g.get("crowdgate_cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.vary.add("Origin")
    return response
