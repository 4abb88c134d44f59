"""The OpenAPI document the service serves, as stable JSON for ``openapi/crowdgate.json``."""

from __future__ import annotations

import json

from flask import Flask

from crowdgate.extension import crowdgate_state


def spec_json(app: Flask) -> str:
    with app.test_request_context("/"):
        spec = crowdgate_state(app).api.__schema__
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
