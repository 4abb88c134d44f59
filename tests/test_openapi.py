"""The exported spec matches what the service serves, and its models come from the schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crowdgate.api.models import json_schema
from crowdgate.openapi_spec import spec_json
from crowdgate.schemas.participants import StartResultSchema
from crowdgate.schemas.studies import StudyCreateSchema

SPEC_FILE = Path(__file__).resolve().parents[1] / "openapi" / "crowdgate.json"
SURVEY_PATHS = {
    "/studies/{slug}/participants/{worker_id}/start": {"get", "post"},
    "/studies/{slug}/participants/{worker_id}/state": {"get", "put", "patch"},
    "/studies/{slug}/participants/{worker_id}/complete": {"post"},
    "/studies/{slug}/codes/verify": {"get", "post"},
    "/studies/{slug}/eligibility": {"get"},
}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_exported_file_is_current(app):
    assert SPEC_FILE.read_text(encoding="utf-8") == spec_json(app), (
        "openapi/crowdgate.json is stale: run `crowdgate openapi export`"
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_served_spec_and_docs(anonymous):
    served = anonymous.get("/swagger.json").json()
    assert served == json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    for path, methods in SURVEY_PATHS.items():
        assert methods <= set(served["paths"][path]), path
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


def test_models_are_the_marshmallow_schemas():
    spec = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    assert spec["definitions"]["StudyCreate"] == json_schema(StudyCreateSchema)
    assert spec["definitions"]["StartResult"] == json_schema(StartResultSchema)
