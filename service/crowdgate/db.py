"""Engines and sessions: SQLite with WAL and writer locks, PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.engine import Dialect, make_url
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
        readonly = connection.get_execution_options().get("crowdgate_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional_names: tuple[str, ...] | None  # None: the driver takes named parameters
    fixed_values: dict[str, Any]  # parameters the statement sets itself (LIMIT 1)
    result_processors: tuple[Callable[[Any], Any] | None, ...]


class PreparedSelect:
    """A SELECT compiled once per dialect and run straight on the driver's cursor.

    For the statements survey pages run on every call. SQLAlchemy's per-execution work
    (cache key, result metadata, events, pool events) took longer than SQLite took to
    answer. Values are converted as SQLAlchemy would (JSON, booleans); parameters must
    be plain strings or numbers, which need no conversion.
    """

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled_for(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._compile(dialect)
            self._by_dialect[dialect.name] = compiled
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        for name, bind in compiled.binds.items():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"parameter {name} needs conversion: use a Session for it")
        return _Compiled(
            sql=compiled.string,
            positional_names=tuple(compiled.positiontup or ()) if dialect.positional else None,
            fixed_values={
                name: bind.value for name, bind in compiled.binds.items() if bind.value is not None
            },
            result_processors=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            ),
        )


class SingleReads:
    """Runs PreparedSelects on one pooled driver connection; see Database.single_reads."""

    def __init__(self, driver_connection: Any, dialect: Dialect) -> None:
        self._driver = driver_connection
        self._dialect = dialect

    def first(self, prepared: PreparedSelect, params: dict[str, Any]) -> tuple[Any, ...] | None:
        compiled = prepared.compiled_for(self._dialect)
        names = compiled.positional_names
        if compiled.fixed_values:
            params = {**compiled.fixed_values, **params}
        cursor = self._driver.cursor()
        try:
            cursor.execute(compiled.sql, params if names is None else [params[n] for n in names])
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(compiled.result_processors, row, strict=True)
        )


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Database:
    """One engine, two session factories (writers and readers) and bare single reads."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout: float = 30.0) -> None:
        self.engine = make_engine(url, pool_size=pool_size, busy_timeout=busy_timeout)
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
    def single_reads(self) -> Iterator[SingleReads]:
        """A pooled connection for reads that each stand alone, outside any transaction.

        A lone SELECT is consistent by itself: BEGIN and COMMIT around it would only add
        two statements (two round trips on PostgreSQL) to the busiest requests.
        """
        pooled = self.engine.raw_connection()
        driver = pooled.dbapi_connection
        postgresql = is_postgresql(self.engine)
        try:
            if postgresql:
                driver.autocommit = True  # type: ignore[union-attr]
            yield SingleReads(driver, self.engine.dialect)
        finally:
            if postgresql:
                driver.autocommit = False  # type: ignore[union-attr]
            pooled.close()

    def dispose(self) -> None:
        self.engine.dispose()
