"""The SDK stands alone: it imports without the service or its dependencies, and works.

A subprocess blocks the service's packages with a meta path finder placed before
every other, imports every module of crowdgate_client, and makes real calls to a
live server. A static check backs it up for imports on paths the calls do not take.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[1] / "client"
PACKAGE_DIR = CLIENT_DIR / "crowdgate_client"
BLOCKED = (
    "flask",
    "flask_restx",
    "werkzeug",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "marshmallow",
    "boto3",
    "botocore",
    "redis",
    "limits",
    "gunicorn",
    "crowdgate",
)

SCRIPT = r"""
import importlib, importlib.abc, json, pkgutil, sys

BLOCKED = set(json.loads(sys.argv[1]))
url, admin_key, client_dir = sys.argv[2], sys.argv[3], sys.argv[4]


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"blocked for this test: {name}", name=name)
        return None


sys.meta_path.insert(0, Block())
sys.path.insert(0, client_dir)
already = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)

import crowdgate_client
from crowdgate_client import Client, SurveyClient

modules = [
    info.name
    for info in pkgutil.walk_packages(crowdgate_client.__path__, "crowdgate_client.")
]
for name in modules:
    importlib.import_module(name)
try:
    import flask  # noqa: F401
    blocking = False
except ModuleNotFoundError:
    blocking = True

with Client(url, admin_key) as client:
    healthy = client.health().ok
    created = client.create_study("isolated", conditions={"a": 1})
with SurveyClient(url, "isolated", created.survey_key) as page:
    condition = page.start("w-1").condition

print(json.dumps({
    "file": crowdgate_client.__file__,
    "modules": modules,
    "blocking": blocking,
    "already": already,
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
    "healthy": healthy,
    "condition": condition,
}))
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sdk_works_with_the_service_packages_blocked(server, admin_key):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(BLOCKED), server.url, admin_key, CLIENT_DIR],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["file"] == str(PACKAGE_DIR / "__init__.py")
    assert report["blocking"] and report["already"] == [] and report["loaded"] == []
    assert {"crowdgate_client.client", "crowdgate_client.survey"} <= set(report["modules"])
    assert report["healthy"] and report["condition"] == "a"


def test_sdk_sources_import_only_the_standard_library_and_requests():
    allowed = set(sys.stdlib_module_names) | {"requests", "crowdgate_client", "__future__"}
    found: dict[str, set[str]] = {}
    for source in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] not in allowed:
                    found.setdefault(source.name, set()).add(name)
    assert not found, f"crowdgate_client imports beyond the standard library and requests: {found}"
