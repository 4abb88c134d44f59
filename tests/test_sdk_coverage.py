"""Every operation in openapi/crowdgate.json has an SDK method, typed in and out.

When the API gains an operation, the spec file changes (test_openapi keeps it
current) and this test fails, naming the operation, until the SDK has a method
marked ``@covers("METHOD /path")`` for it.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crowdgate_client import Client, SurveyClient
from crowdgate_client._endpoints import Operation, covered_operations

SPEC_FILE = Path(__file__).resolve().parents[1] / "openapi" / "crowdgate.json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}
#: Operations no researcher calls, so the SDK has no method for them: Prolific itself
#: calls its hook endpoint, signed with the workspace's hook secret.
NOT_FOR_RESEARCHERS = {Operation("POST", "/webhooks/prolific")}


def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> dict[Operation, dict[str, Any]]:
    """Each operation of a Swagger 2.0 document, with its description."""
    return {
        Operation(method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def uncovered(document: dict[str, Any], *classes: type) -> list[str]:
    """The document's operations that no method of ``classes`` covers."""
    covered = covered_operations(*classes)
    return sorted(
        str(op)
        for op in operations(document)
        if op not in covered and op not in NOT_FOR_RESEARCHERS
    )


def test_every_operation_has_an_sdk_method():
    missing = uncovered(spec(), Client, SurveyClient)
    assert not missing, f"operations without an SDK method (mark one with @covers): {missing}"


def test_client_alone_covers_every_operation():
    # An admin key may call everything, so a researcher never needs a second client.
    missing = uncovered(spec(), Client)
    assert not missing, f"operations Client has no method for: {missing}"


def test_survey_client_covers_every_survey_operation():
    survey_ops = {
        op: found
        for op, found in operations(spec()).items()
        if any("survey" in scheme for scheme in found.get("security", []))
    }
    assert len(survey_ops) == 9
    missing = uncovered({"paths": _paths(survey_ops)}, SurveyClient)
    assert not missing, f"survey operations SurveyClient has no method for: {missing}"


def test_no_method_claims_an_operation_the_api_lacks():
    known = operations(spec())
    stale = {
        str(op): methods
        for op, methods in covered_operations(Client, SurveyClient).items()
        if op not in known
    }
    assert not stale, f"@covers names operations missing from the spec: {stale}"


def test_a_new_operation_fails_the_walk():
    document = copy.deepcopy(spec())
    document["paths"]["/studies/{slug}"]["delete"] = {"operationId": "delete_study_item"}
    document["paths"]["/studies/{slug}/announcements"] = {
        "parameters": [{"name": "slug", "in": "path"}],
        "post": {"operationId": "post_announcements"},
    }
    assert uncovered(document, Client, SurveyClient) == [
        "DELETE /studies/{slug}",
        "POST /studies/{slug}/announcements",
    ]


def test_covering_methods_are_typed_and_answer_models_not_dicts():
    for methods in covered_operations(Client, SurveyClient).values():
        for qualified in methods:
            class_name, name = qualified.split(".")
            cls = Client if class_name == "Client" else SurveyClient
            method = getattr(cls, name)
            hints = typing.get_type_hints(method)
            parameters = [p for p in inspect.signature(method).parameters if p != "self"]
            assert set(parameters) <= set(hints), f"{qualified}: untyped parameters"
            assert "return" in hints, f"{qualified}: no return type"
            assert _is_model(hints["return"]), f"{qualified} returns {hints['return']!r}"


def _is_model(annotation: Any) -> bool:
    """A dataclass, an iterator or list of them, one of several, or a count (export bytes)."""
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (Iterator, list):
        (annotation,) = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType):
        return all(_is_model(member) for member in typing.get_args(annotation))
    return dataclasses.is_dataclass(annotation)


def _paths(found: dict[Operation, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for op, operation in found.items():
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return paths
