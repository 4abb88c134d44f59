"""Fixtures: a real database (SQLite, and PostgreSQL when configured), a running app, HTTP clients.

The ``db_url`` fixture is parametrized over SQLite and PostgreSQL. The PostgreSQL
variants run when ``CROWDGATE_TEST_DATABASE_URL`` names a server; each test gets a
fresh database copied from a migrated template.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from crowdgate import create_app
from crowdgate.api.platform_access import close_clients
from crowdgate.clock import ManualClock
from crowdgate.db import Database, normalise_url
from crowdgate.domain.keys import create_admin_key
from crowdgate.schema_version import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from tests.http import ApiClient

pytest_plugins = ["tests.mturk_fixtures", "tests.prolific_fixtures"]

PG_ENV = "CROWDGATE_TEST_DATABASE_URL"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in (
            callspec.params.get("db_url"),
            callspec.params.get("empty_db_url"),
        ):
            item.add_marker(pytest.mark.postgres)


class PostgresTemplates:
    """Makes one migrated template database per session and copies it for each test."""

    def __init__(self, url: str) -> None:
        self.url = make_url(normalise_url(url))
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.template = f"cg_template_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.template}"'))
        migrated = Database(self._url_for(self.template))
        upgrade(migrated.engine)
        migrated.dispose()
        self.made: list[str] = [self.template]

    def _url_for(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def fresh(self, *, migrated: bool = True) -> str:
        name = f"cg_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
        self.made.append(name)
        return self._url_for(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        for name in self.made:
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[PostgresTemplates]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL variant: set {PG_ENV}=postgresql://user@host:port/db to run it")
    try:
        templates = PostgresTemplates(url)
    except Exception as exc:  # an unreachable server is a reason to skip, said plainly
        pytest.skip(f"PostgreSQL variant: cannot reach {PG_ENV}: {exc}")
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database with no tables; for migration tests (parametrize db_url indirectly)."""
    yield from _database(request, tmp_path, migrated=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    yield from _database(request, tmp_path, migrated=True)


def _database(request: pytest.FixtureRequest, tmp_path: Any, *, migrated: bool) -> Iterator[str]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'crowdgate.db'}"
        if migrated:
            db = Database(url)
            upgrade(db.engine)
            db.dispose()
        yield url
        return
    templates: PostgresTemplates = request.getfixturevalue("postgres_templates")
    url = templates.fresh(migrated=migrated)
    yield url
    templates.drop(url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def app_config(db_url: str, clock: ManualClock) -> dict[str, Any]:
    return {"CROWDGATE_DATABASE_URL": db_url, "CROWDGATE_CLOCK": clock, "TESTING": True}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    application = create_app(app_config)
    yield application
    close_clients(application)
    application.extensions["crowdgate"].db.dispose()


@pytest.fixture
def db(app: Any) -> Database:
    return app.extensions["crowdgate"].db  # type: ignore[no-any-return]


class LiveServer:
    """The app served over a real socket by a threaded WSGI server."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(app: Any) -> Iterator[LiveServer]:
    live = LiveServer(app)
    yield live
    live.stop()


@pytest.fixture
def server(app: Any) -> Iterator[LiveServer]:
    yield from serve(app)


@pytest.fixture
def admin_key(db: Database) -> str:
    with db.write() as session:
        return create_admin_key(session, name="tests", now=datetime.now(UTC))


@pytest.fixture
def admin(server: LiveServer, admin_key: str) -> Iterator[ApiClient]:
    with ApiClient(server.url, admin_key=admin_key) as client:
        yield client


@pytest.fixture
def anonymous(server: LiveServer) -> Iterator[ApiClient]:
    with ApiClient(server.url) as client:
        yield client


@pytest.fixture
def make_study(admin: ApiClient) -> Any:
    """Create a study over HTTP; returns (study, survey client)."""

    counter = iter(range(1, 1_000_000))

    def make(**fields: Any) -> tuple[dict[str, Any], ApiClient]:
        body = {"slug": f"study-{next(counter)}", "platform": "none", **fields}
        response = admin.post("/studies", json=body)
        assert response.status_code == 201, response.text
        study = response.json()
        return study, ApiClient(admin.base_url, survey_key=study["survey_key"])

    return make
