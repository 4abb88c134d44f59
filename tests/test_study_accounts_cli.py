"""`crowdgate studies create|update|show` with a study's own Prolific account, run as a
researcher runs them: subprocesses talking HTTP to a live server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crowdgate.db import Database
from crowdgate.domain.sealing import unseal
from crowdgate.models import Study
from sqlalchemy import select

from tests.test_cli_researcher import assert_one_line_error, run

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

SECRET_KEY = "a-long-enough-passphrase-for-tests"
TOKEN = "the-study-token-from-a-file"
WORKSPACE = "0123456789abcdef01234567"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_SECRET_KEY": SECRET_KEY}


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


def sealed(db: Database, slug: str) -> str | None:
    with db.read() as session:
        return session.scalars(select(Study.platform_token_sealed).where(Study.slug == slug)).one()


def shown(env: dict[str, str], tmp_path: Path, slug: str) -> dict[str, str]:
    """The `studies show` table as field -> value."""
    result = run("studies", "show", slug, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fields = {}
    for line in result.stdout.splitlines()[1:]:
        name, _, value = line.rstrip().rpartition("  ")
        fields[name.strip()] = value.strip()
    return fields


def test_create_reads_the_token_from_a_file_and_never_prints_it(
    env: dict[str, str], tmp_path: Path, db: Database
) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text(f"\n  {TOKEN}  \n")
    created = run(
        "studies", "create", "own", "--platform", "prolific",
        "--platform-token-file", str(token_file), "--platform-workspace-id", WORKSPACE,
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert TOKEN not in created.stdout + created.stderr
    assert unseal(SECRET_KEY, sealed(db, "own") or "") == TOKEN

    fields = shown(env, tmp_path, "own")
    assert fields["platform token"] == "set"
    assert fields["platform workspace"] == WORKSPACE
    as_json = run("studies", "show", "own", "--json", env=env, cwd=tmp_path)
    study = json.loads(as_json.stdout)
    assert study["platform_token_set"] is True and study["platform_workspace_id"] == WORKSPACE
    assert TOKEN not in as_json.stdout


def test_update_reads_stdin_and_clears(env: dict[str, str], tmp_path: Path, db: Database) -> None:
    assert (
        run("studies", "create", "own", "--platform", "prolific", env=env, cwd=tmp_path).returncode
        == 0
    )
    assert shown(env, tmp_path, "own")["platform token"] == "not set"

    updated = run(
        "studies", "update", "own", "--platform-token-file", "-", "--json",
        env=env, cwd=tmp_path, input=f"{TOKEN}\n",
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["platform_token_set"] is True
    assert unseal(SECRET_KEY, sealed(db, "own") or "") == TOKEN

    workspace = run(
        "studies", "update", "own", "--platform-workspace-id", WORKSPACE, env=env, cwd=tmp_path
    )
    assert workspace.returncode == 0, workspace.stderr
    assert shown(env, tmp_path, "own")["platform workspace"] == WORKSPACE

    cleared = run("studies", "update", "own", "--clear-platform-token", env=env, cwd=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    assert sealed(db, "own") is None
    cleared = run("studies", "update", "own", "--platform-workspace-id", "", env=env, cwd=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    fields = shown(env, tmp_path, "own")
    assert (fields["platform token"], fields["platform workspace"]) == ("not set", "-")


def test_bad_token_files_are_one_line_errors(
    env: dict[str, str], tmp_path: Path, db: Database
) -> None:
    assert (
        run("studies", "create", "own", "--platform", "prolific", env=env, cwd=tmp_path).returncode
        == 0
    )
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n\n")
    empty = run(
        "studies", "update", "own", "--platform-token-file", str(blank), env=env, cwd=tmp_path
    )
    assert_one_line_error(empty, 2, "--platform-token-file", "holds no token")
    from_stdin = run(
        "studies", "update", "own", "--platform-token-file", "-", env=env, cwd=tmp_path, input=""
    )
    assert_one_line_error(from_stdin, 2, "stdin holds no token")
    missing = run(
        "studies", "update", "own", "--platform-token-file", str(tmp_path / "nowhere"),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(missing, 2, "nowhere")
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN)
    both = run(
        "studies", "update", "own", "--platform-token-file", str(token_file),
        "--clear-platform-token", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(both, 2, "not both")
    assert sealed(db, "own") is None

    # The service's refusals come back as one line too, naming the field.
    on_none = run(
        "studies", "create", "plain", "--platform", "none", "--platform-token-file",
        str(token_file), env=env, cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(on_none, 1, "platform_token")
    assert TOKEN not in on_none.stderr
