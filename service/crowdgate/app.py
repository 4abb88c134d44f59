"""The standalone service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from crowdgate.config import from_environment
from crowdgate.extension import CrowdGate


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the standalone crowdgate service: settings from the environment, then ``config``."""
    app = Flask("crowdgate")
    app.config.update(from_environment())
    if config:
        app.config.update(config)
    proxies = int(app.config.get("CROWDGATE_TRUSTED_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=proxies,
            x_proto=proxies,  # type: ignore[method-assign]
            x_host=proxies,
        )
    CrowdGate(app)

    @app.get("/")
    def index() -> Response:
        return redirect("/api/v1/docs")

    return app
