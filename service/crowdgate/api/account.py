"""The platform account: its balance."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_restx import Namespace, Resource

from crowdgate.api.auth import require_admin
from crowdgate.api.context import load, state
from crowdgate.api.models import model, query_params
from crowdgate.api.platform_access import client_for
from crowdgate.schemas.account import BalanceArgsSchema, BalanceSchema
from crowdgate.schemas.common import ErrorSchema

ns = Namespace("account", path="/account", description="The platform account (admin)")

error_model = model(ns, ErrorSchema, "Error")
balance_model = model(ns, BalanceSchema, "Balance")


@ns.route("/balance")
@ns.response(401, "No key or a wrong key", error_model)
@ns.response(403, "Not an admin key", error_model)
@ns.response(409, "The platform has no account balance", error_model)
@ns.response(422, "Invalid platform or mode", error_model)
class Balance(Resource):
    @ns.doc(security="admin", params=query_params(BalanceArgsSchema))
    @ns.response(200, "What the account can spend", balance_model)
    def get(self) -> dict[str, Any]:
        """The platform account's balance in one mode (sandbox or live)."""
        with state().db.read() as session:
            require_admin(session)
        args = load(BalanceArgsSchema(), request.args)
        client = client_for(current_app._get_current_object(), args["platform"], args["mode"])  # type: ignore[attr-defined]
        return BalanceSchema().dump(
            {
                **args,
                "balance": client.balance(),
                "currency": client.currency,
            }
        )
