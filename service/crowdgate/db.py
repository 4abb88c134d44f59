"""Engines and sessions: SQLite with WAL and writer locks, PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Send plain ``postgresql://`` URLs to psycopg 3, the driver crowdgate installs."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10, busy_timeout: float = 30.0) -> Engine:
    url = normalise_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    # pysqlite's own transaction handling issues BEGIN lazily and DEFERRED, so a reader
    # that later writes can fail with "database is locked" instead of waiting. crowdgate
    # opens every transaction itself: IMMEDIATE for writers (they queue on the busy
    # timeout), DEFERRED for readers (WAL lets them run beside a writer).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("crowdgate_no_transaction", False):
            return  # pysqlite without isolation_level runs each statement on its own
        connection.exec_driver_sql(
            "BEGIN" if options.get("crowdgate_readonly") else "BEGIN IMMEDIATE"
        )


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Database:
    """One engine, two session factories (writers and readers) and bare single reads."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout: float = 30.0) -> None:
        self.engine = make_engine(url, pool_size=pool_size, busy_timeout=busy_timeout)
        # A lone SELECT is consistent by itself: BEGIN and COMMIT around it would only
        # add two statements (two round trips on PostgreSQL) to the busiest requests.
        self._untransacted = self.engine.execution_options(
            **(
                {"isolation_level": "AUTOCOMMIT"}
                if is_postgresql(self.engine)
                else {"crowdgate_no_transaction": True}
            )
        )
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(
            self.engine.execution_options(crowdgate_readonly=True), expire_on_commit=False
        )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back on any error."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def single_reads(self) -> Iterator[Connection]:
        """A connection for reads that each stand alone: every statement sees its own snapshot."""
        with self._untransacted.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
