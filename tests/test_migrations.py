"""Migrations from an empty database, and the refusal to start on an old one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from crowdgate import create_app
from crowdgate.db import Database
from crowdgate.models import Base
from crowdgate.schema_version import (
    SchemaOutOfDate,
    current_revision,
    head_revision,
    is_empty,
    upgrade,
)
from sqlalchemy import inspect

TABLES = {
    "admin_keys",
    "studies",
    "participants",
    "participant_events",
    "idempotency_records",
    "jobs",
    "job_items",
    "alembic_version",
}


def test_upgrade_from_empty_creates_every_table(empty_db_url):
    db = Database(empty_db_url)
    try:
        assert is_empty(db.engine)
        upgrade(db.engine)
        assert TABLES <= set(inspect(db.engine).get_table_names())
        assert current_revision(db.engine) == head_revision()
        upgrade(db.engine)  # a second upgrade is a no-op, not an error
        assert current_revision(db.engine) == head_revision()
    finally:
        db.dispose()


def test_models_match_the_migrations(db_url):
    db = Database(db_url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        db.dispose()


def test_service_refuses_a_database_behind_the_latest_migration(empty_db_url):
    with pytest.raises(SchemaOutOfDate, match="crowdgate db upgrade"):
        create_app({"CROWDGATE_DATABASE_URL": empty_db_url})


def test_downgrade_then_refuse_then_upgrade(empty_db_url):
    db = Database(empty_db_url)
    try:
        upgrade(db.engine)
        from alembic import command
        from crowdgate.schema_version import _config

        config = _config()
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert current_revision(db.engine) is None
    finally:
        db.dispose()
    with pytest.raises(SchemaOutOfDate, match="has no crowdgate tables"):
        create_app({"CROWDGATE_DATABASE_URL": empty_db_url})


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_db_upgrade_and_keys(empty_db_url, tmp_path):
    env = {"CROWDGATE_DATABASE_URL": empty_db_url}
    refused = _cli("keys", "create", "--admin", cwd=tmp_path, env=env)
    assert refused.returncode != 0
    assert "crowdgate db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr

    upgraded = _cli("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert head_revision() in upgraded.stdout

    created = _cli("keys", "create", "--admin", "--name", "lab", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("cga_")
    app = create_app({"CROWDGATE_DATABASE_URL": empty_db_url})
    try:
        response = app.test_client().get(
            "/api/v1/studies", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200
    finally:
        app.extensions["crowdgate"].db.dispose()


def test_cli_keys_create_needs_a_kind(tmp_path):
    result = _cli("keys", "create", cwd=tmp_path)
    assert result.returncode == 2
    assert "--admin" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unreachable_database_is_one_line(tmp_path):
    env = {"CROWDGATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = _cli("db", "upgrade", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Upgrading the database failed")
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_migrates_an_empty_sqlite_database_by_itself(tmp_path):
    port = _free_port()
    env = {**os.environ, "CROWDGATE_DATABASE_URL": "sqlite:///crowdgate.db"}
    env.pop("CROWDGATE_TEST_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "crowdgate.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "crowdgate serve did not start"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        assert (tmp_path / "crowdgate.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "created the crowdgate tables" in output


def test_serve_refuses_a_sqlite_database_behind_head(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE unrelated (id INTEGER)")
    finally:
        db.dispose()
    result = _cli(
        "serve",
        "--port",
        str(_free_port()),
        cwd=tmp_path,
        env={"CROWDGATE_DATABASE_URL": "sqlite:///old.db"},
    )
    assert result.returncode == 1
    assert "crowdgate db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
