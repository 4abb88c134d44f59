"""``crowdgate serve``: gunicorn in-process, so the first run needs one command."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy.engine import make_url

from crowdgate.api.platform_access import client_for
from crowdgate.db import Database
from crowdgate.domain import job_runner
from crowdgate.domain.job_runner import JobRunner, default_name
from crowdgate.extension import crowdgate_state
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


def log_jobs(prefix: str) -> None:
    """Say on stderr, one line each, which jobs the runners start and how they end."""
    logger = logging.getLogger(job_runner.__name__)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def app_runner(app: Flask, name: str | None = None) -> JobRunner:
    """A job runner with ``app``'s database, clock and platform clients (as its views use)."""
    state = crowdgate_state(app)
    return JobRunner(
        state.db,
        state.clock,
        functools.partial(client_for, app),
        name,
        stale_seconds=int(app.config["CROWDGATE_JOB_STALE_SECONDS"]),
    )


class BackgroundRunner:
    """A job runner thread in each gunicorn worker process, wired in by server hooks.

    The thread starts after the fork, in the worker (a fork copies only the forking
    thread, and a SQLite connection must not cross a fork), and uses the worker's app:
    its database and platform clients. Several runners are safe: each claim is its own
    transaction, serialised by SQLite's write lock.
    """

    def __init__(self, *, poll_seconds: float = 1.0) -> None:
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, worker: Any) -> None:
        """gunicorn's ``post_worker_init``: the worker has loaded its app."""
        runner = app_runner(worker.wsgi, f"serve:{default_name()}")
        self.thread = threading.Thread(
            target=runner.run_forever,
            args=(self.stop_event, self.poll_seconds),
            name="crowdgate-job-runner",
            daemon=True,
        )
        self.thread.start()

    def stop(self, server: Any, _worker: Any) -> None:
        """gunicorn's ``worker_exit``: let the current job finish, within the grace time."""
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=float(server.cfg.graceful_timeout))
