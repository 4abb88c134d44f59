"""Alembic, driven from code: upgrade, and the check that refuses an old database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_empty(engine: Engine) -> bool:
    return not inspect(engine).get_table_names()


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def describe(engine: Engine) -> str:
    """The database's URL without its password; a SQLite file by its absolute path."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        return f"sqlite:///{Path(engine.url.database).resolve()}"
    return engine.url.render_as_string(hide_password=True)


class SchemaOutOfDate(RuntimeError):
    """The database is behind the code; the message names the command that fixes it."""


def require_current(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = "has no crowdgate tables" if current is None else f"is at revision {current}"
        raise SchemaOutOfDate(
            f"The database at {describe(engine)} {where}; "
            f"this crowdgate needs revision {head}. Run `crowdgate db upgrade` first."
        )
