"""``CrowdGate``: the Flask extension that mounts crowdgate's API into an application."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.utils import import_string

from crowdgate.api import build_api, make_limiter, register_apidoc
from crowdgate.api.context import CrowdGateState
from crowdgate.clock import Clock, system_clock
from crowdgate.config import apply_defaults
from crowdgate.db import Database
from crowdgate.schema_version import require_current


class CrowdGate:
    """Mounts the whole API under ``url_prefix`` + ``/api/v1`` in an existing app.

    Like Flask-SQLAlchemy, it keeps its per-app state in ``app.extensions["crowdgate"]``
    and never stores the app, so one instance may serve several apps.
    """

    def __init__(self, app: Flask | None = None, *, url_prefix: str = "") -> None:
        self.url_prefix = url_prefix
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, url_prefix: str | None = None) -> None:
        if "crowdgate" in app.extensions:
            raise RuntimeError("CrowdGate is already registered on this application.")
        apply_defaults(app.config)
        prefix = (self.url_prefix if url_prefix is None else url_prefix).rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"url_prefix must start with '/', got {prefix!r}")
        db = Database(
            app.config["CROWDGATE_DATABASE_URL"],
            pool_size=app.config["CROWDGATE_DB_POOL_SIZE"],
            busy_timeout=app.config["CROWDGATE_SQLITE_BUSY_TIMEOUT"],
        )
        if app.config["CROWDGATE_REQUIRE_CURRENT_SCHEMA"]:
            try:
                require_current(db.engine)
            except Exception:
                db.dispose()
                raise
        blueprint, api = build_api(app, prefix)
        app.extensions["crowdgate"] = CrowdGateState(
            db=db,
            api=api,
            clock=_clock(app.config["CROWDGATE_CLOCK"]),
            api_path=prefix + "/api/v1",
            max_body_bytes=app.config["CROWDGATE_MAX_BODY_BYTES"],
            max_state_bytes=app.config["CROWDGATE_MAX_STATE_BYTES"],
            default_lease_minutes=app.config["CROWDGATE_DEFAULT_LEASE_MINUTES"],
        )
        app.extensions["crowdgate"].rate_limit = make_limiter(app)
        register_apidoc(app, prefix)
        app.register_blueprint(blueprint)


def _clock(setting: Any) -> Clock:
    if setting is None:
        return system_clock
    clock = import_string(setting) if isinstance(setting, str) else setting
    if not callable(clock):
        raise RuntimeError("CROWDGATE_CLOCK must be a callable returning an aware datetime.")
    return clock  # type: ignore[no-any-return]


def crowdgate_state(app: Flask) -> CrowdGateState:
    try:
        return app.extensions["crowdgate"]  # type: ignore[no-any-return]
    except KeyError:
        raise RuntimeError("CrowdGate is not registered on this application.") from None
