"""``crowdgate serve``: gunicorn in-process, so the first run needs one command."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy.engine import make_url

from crowdgate.db import Database
from crowdgate.schema_version import is_empty, require_current, upgrade


def prepare_database(url: str) -> str | None:
    """Migrate an empty SQLite database; refuse any other that is behind. Says what it did."""
    db = Database(url)
    try:
        if make_url(db.engine.url).get_backend_name() == "sqlite" and is_empty(db.engine):
            upgrade(db.engine)
            return f"created the crowdgate tables in {db.engine.url.database}"
        require_current(db.engine)
        return None
    finally:
        db.dispose()  # no pooled connection may cross gunicorn's fork


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Any, options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.factory()  # type: ignore[no-any-return]
