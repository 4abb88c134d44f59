"""Liveness and readiness, for load balancers and deploy scripts."""

from __future__ import annotations

from typing import Any

from flask_restx import Namespace, Resource
from sqlalchemy import text

from crowdgate.api.context import state

ns = Namespace("health", path="/health", description="Service health (no key needed)")


@ns.route("")
class Health(Resource):
    @ns.response(200, "The service and its database answer")
    def get(self) -> dict[str, Any]:
        """Check that the service can reach its database."""
        with state().db.read() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}
