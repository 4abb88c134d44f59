"""flask-restx models made from the marshmallow schemas, so the spec has one source."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from flask_restx import Namespace
from flask_restx.model import SchemaModel
from marshmallow import Schema


@cache
def _converter() -> OpenAPIConverter:
    # Nested schemas are inlined (the resolver names none of them), so each restx model
    # is self-contained and needs no definitions of its own.
    plugin = MarshmallowPlugin(schema_name_resolver=lambda _schema: None)  # type: ignore[arg-type,return-value]
    APISpec("crowdgate", "1", "2.0", plugins=[plugin])
    assert plugin.converter is not None
    return plugin.converter


def json_schema(schema: type[Schema] | Schema) -> dict[str, Any]:
    instance = schema() if isinstance(schema, type) else schema
    return _converter().schema2jsonschema(instance)  # type: ignore[no-any-return]


def model(ns: Namespace, schema: type[Schema], name: str | None = None) -> SchemaModel:
    name = name or schema.__name__.removesuffix("Schema")
    return ns.schema_model(name, json_schema(schema))


def query_params(schema: type[Schema]) -> dict[str, dict[str, Any]]:
    """Swagger query parameters for ``@ns.doc(params=...)``."""
    params = _converter().schema2parameters(schema(), location="query")
    return {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in params}
