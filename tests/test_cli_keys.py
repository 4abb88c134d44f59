"""Admin keys from the command line: create, list, revoke."""

from __future__ import annotations

import pytest
import requests

from tests.test_migrations import _cli


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    return {"CROWDGATE_DATABASE_URL": db_url}


def test_create_list_revoke(env, tmp_path, server):
    created = _cli("keys", "create", "--admin", "--name", "analysis laptop", cwd=tmp_path, env=env)
    key = created.stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    assert requests.get(f"{server.url}/api/v1/studies", headers=headers, timeout=10).ok

    listed = _cli("keys", "list", cwd=tmp_path, env=env)
    assert key[:10] in listed.stdout and "analysis laptop" in listed.stdout
    assert key not in listed.stdout

    revoked = _cli("keys", "revoke", key[:10], cwd=tmp_path, env=env)
    assert revoked.returncode == 0, revoked.stderr
    refused = requests.get(f"{server.url}/api/v1/studies", headers=headers, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_key"

    again = _cli("keys", "revoke", key[:10], cwd=tmp_path, env=env)
    assert again.returncode == 1
    assert "no live key" in again.stderr and "Traceback" not in again.stderr
