"""The REST API: one flask-restx Api on a blueprint, built per application."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from flask import Blueprint, Flask, request
from flask.wrappers import Response
from flask_restx import Api, apidoc

from crowdgate.api import (
    account,
    bonuses,
    codes,
    cors,
    exclusions,
    health,
    hits,
    idempotency,
    jobs,
    messages,
    participants,
    qualifications,
    review,
    studies,
    survey,
    sync,
    webhooks,
)
from crowdgate.api.context import request_id, state
from crowdgate.api.errors import error_response
from crowdgate.api.ratelimit import SurveyRateLimit

API_VERSION_PATH = "/api/v1"
NAMESPACES = (
    studies.ns,
    participants.ns,
    survey.ns,
    codes.ns,
    health.ns,
    hits.ns,
    account.ns,
    sync.ns,
    review.ns,
    review.files_ns,
    jobs.ns,
    qualifications.ns,
    exclusions.ns,
    bonuses.ns,
    messages.ns,
    webhooks.ns,
)
AUTHORIZATIONS = {
    "admin": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Bearer KEY, from `crowdgate keys create --admin`",
    },
    "survey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Survey-Key",
        "description": "the study's survey key; also accepted as the `key` parameter",
    },
}


class CrowdgateApi(Api):
    """An Api whose every failure, under its path, is crowdgate's JSON error."""

    @cached_property
    def __schema__(self) -> dict[str, Any]:
        schema: dict[str, Any] = super().__schema__
        idempotency.document(schema)
        return schema

    def error_router(self, original_handler: Any, e: Exception) -> Any:
        if request.path.startswith(state().api_path):
            return error_response(e)
        return original_handler(e)


def build_api(app: Flask, url_prefix: str) -> tuple[Blueprint, Api]:
    api_path = url_prefix + API_VERSION_PATH
    blueprint = Blueprint("crowdgate", __name__, url_prefix=api_path)
    api = CrowdgateApi(
        blueprint,
        version="1",
        title="crowdgate",
        description="Survey pages and researchers' scripts, meet crowd-work platforms.",
        doc="/docs",
        authorizations=AUTHORIZATIONS,
    )
    for ns in NAMESPACES:
        api.add_namespace(ns)
    blueprint.before_request(_before)
    blueprint.after_request(_after)
    return blueprint, api


def limit_body_size() -> None:
    """Cap bodies under crowdgate's path before anything (the rate limiter too) reads them."""
    if request.path.startswith(state().api_path):
        request.max_content_length = state().max_body_bytes


def register_apidoc(app: Flask, url_prefix: str) -> None:
    """Serve Swagger UI's files under crowdgate's path, not at the host application's root."""
    conf = app.extensions.setdefault("restx", {})
    if not conf.get("apidoc_registered"):
        app.register_blueprint(apidoc.apidoc, url_prefix=url_prefix + API_VERSION_PATH)
        conf["apidoc_registered"] = True


def _before() -> Response | None:
    request_id()
    if request.method == "OPTIONS" and request.view_args and "slug" in request.view_args:
        return cors.preflight(request.view_args["slug"])
    state().rate_limit.check()
    if request.method == "POST":
        return idempotency.before()
    return None


def _after(response: Response) -> Response:
    if request.method == "POST":
        response = idempotency.after(response)
    response.headers["X-Request-ID"] = request_id()
    return cors.add_headers(response)


def make_limiter(app: Flask) -> SurveyRateLimit:
    limit = SurveyRateLimit(app)
    # Registered first so the body cap applies before the limit reads a form's key.
    app.before_request(limit_body_size)
    return limit
