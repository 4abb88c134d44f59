"""The ``crowdgate`` command: serving and administering a crowdgate database."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from crowdgate.app import create_app
from crowdgate.clock import system_clock
from crowdgate.commands import GROUPS
from crowdgate.config import InvalidSetting
from crowdgate.extension import crowdgate_state
from crowdgate.schema_version import (
    SchemaOutOfDate,
    current_revision,
    head_revision,
    require_current,
)


def _cli_app() -> object:
    # Administrative commands must run on an old database too: `db upgrade` is the cure.
    try:
        return create_app({"CROWDGATE_REQUIRE_CURRENT_SCHEMA": False})
    except InvalidSetting as exc:
        raise click.ClickException(str(exc)) from None


class CrowdgateGroup(FlaskGroup):
    """Flask's command group, without Flask's app-finding options and plugins.

    crowdgate always builds its own app, so ``--app``, ``--env-file`` and ``--debug``
    would only confuse, and other packages' Flask commands do not belong here.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.params = [p for p in self.params if p.name not in {"app", "env_file", "debug"}]

    def _load_plugin_commands(self) -> None:
        return None


@click.group(
    cls=CrowdgateGroup,
    create_app=_cli_app,
    add_version_option=False,
    add_default_commands=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """crowdgate: survey pages and researchers' scripts, meet crowd-work platforms."""


def _db_errors(action: str) -> click.ClickException:
    return click.ClickException(f"{action} failed: {sys.exc_info()[1]}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--workers", default=1, show_default=True, type=int, help="gunicorn worker processes."
)
@click.option("--threads", default=8, show_default=True, type=int, help="Threads per worker.")
@click.option(
    "--worker",
    "job_worker",
    is_flag=True,
    help="Run jobs in this process on PostgreSQL too (on SQLite it always does).",
)
def serve(host: str, port: int, workers: int, threads: int, job_worker: bool) -> None:
    """Serve crowdgate with gunicorn (an empty SQLite database is created first)."""
    from crowdgate.serve import BackgroundRunner, Server, log_jobs, prepare_database

    url = current_app.config["CROWDGATE_DATABASE_URL"]
    crowdgate_state(current_app).db.dispose()
    try:
        done = prepare_database(url)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError:
        raise _db_errors("Opening the database") from None
    if done:
        click.echo(f"crowdgate: {done}")
    # Requests queue jobs and a runner runs them, unless the environment asks for inline.
    explicit = "CROWDGATE_JOB_RUNNER" in os.environ
    runner_mode = current_app.config["CROWDGATE_JOB_RUNNER"] if explicit else "queue"
    factory = functools.partial(create_app, {"CROWDGATE_JOB_RUNNER": runner_mode})
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
    }
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if job_worker or (runner_mode == "queue" and sqlite):
        log_jobs("crowdgate jobs")
        background = BackgroundRunner()
        options.update(post_worker_init=background.start, worker_exit=background.stop)
        click.echo("crowdgate: running jobs in this process")
    elif runner_mode == "queue":
        click.echo("crowdgate: jobs are queued here; run `crowdgate worker` to run them")
    click.echo(f"crowdgate: serving on http://{host}:{port}/ (API docs at /api/v1/docs)")
    Server(factory, options).run()


@main.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs that are runnable now, then exit.")
@click.option(
    "--poll",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="Seconds to wait before looking again when no job is runnable.",
)
@click.option("--name", default=None, help="This runner's name in jobs' claimed_by [host:pid].")
def worker(once: bool, poll: float, name: str | None) -> None:
    """Run queued jobs (and jobs whose runner died); SIGTERM stops after the current job."""
    from crowdgate.api.platform_access import close_clients
    from crowdgate.serve import app_runner, log_jobs

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        require_current(crowdgate_state(app).db.engine)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError:
        raise _db_errors("Opening the database") from None
    runner = app_runner(app, name)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()  # checked between jobs: the current one finishes

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log_jobs("crowdgate worker")
    try:
        if once:
            ran = runner.run_all(stop)
            click.echo(f"crowdgate: ran {ran} job{'' if ran == 1 else 's'}")
        else:
            click.echo(f"crowdgate: worker {runner.name} waiting for jobs", err=True)
            runner.run_forever(stop, poll)
            click.echo(f"crowdgate: worker {runner.name} stopped", err=True)
    except SQLAlchemyError:
        raise _db_errors("Running jobs") from None
    finally:
        close_clients(app)


@main.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database to the latest schema (or to --revision)."""
    from crowdgate.schema_version import upgrade

    engine = crowdgate_state(current_app).db.engine
    try:
        upgrade(engine, revision)
        click.echo(f"crowdgate: database at revision {current_revision(engine)}")
    except SQLAlchemyError:
        raise _db_errors("Upgrading the database") from None


@db_group.command("current")
def db_current() -> None:
    """Show the database's schema revision and the latest one."""
    engine = crowdgate_state(current_app).db.engine
    try:
        click.echo(f"database: {current_revision(engine) or 'empty'}; latest: {head_revision()}")
    except SQLAlchemyError:
        raise _db_errors("Reading the database") from None


@main.group("keys")
def keys_group() -> None:
    """Admin keys."""


@keys_group.command("create")
@click.option("--admin", is_flag=True, help="Create an admin key (the only kind there is so far).")
@click.option("--name", default="", help="A label, to tell keys apart later.")
def keys_create(admin: bool, name: str) -> None:
    """Create an admin key and print it once; only its hash is stored."""
    from crowdgate.domain.keys import create_admin_key

    if not admin:
        raise click.UsageError("Say which kind of key: --admin.")
    db = crowdgate_state(current_app).db
    try:
        require_current(db.engine)
        with db.write() as session:
            key = create_admin_key(session, name=name, now=system_clock())
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError:
        raise _db_errors("Storing the key") from None
    click.echo(key)
    click.echo(
        "Keep this key now: crowdgate stores only its hash and cannot show it again.", err=True
    )


@keys_group.command("list")
def keys_list() -> None:
    """List admin keys by their prefix; the keys themselves are not stored."""
    from crowdgate.domain.keys import list_admin_keys

    db = crowdgate_state(current_app).db
    try:
        require_current(db.engine)
        with db.read() as session:
            keys = list_admin_keys(session)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError:
        raise _db_errors("Reading the keys") from None
    click.echo(f"{'prefix':<12} {'created':<20} {'revoked':<20} name")
    for key in keys:
        revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "-"
        created = key.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(f"{key.prefix:<12} {created:<20} {revoked:<20} {key.name}")


@keys_group.command("revoke")
@click.argument("prefix")
def keys_revoke(prefix: str) -> None:
    """Revoke the admin key whose prefix `crowdgate keys list` shows."""
    from crowdgate.domain.keys import revoke_admin_key
    from crowdgate.errors import CrowdgateError

    db = crowdgate_state(current_app).db
    try:
        require_current(db.engine)
        with db.write() as session:
            key = revoke_admin_key(session, prefix, now=system_clock())
            click.echo(f"crowdgate: revoked {key.prefix}… ({key.name or 'no name'})")
    except (SchemaOutOfDate, CrowdgateError) as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError:
        raise _db_errors("Revoking the key") from None


@main.group("openapi")
def openapi_group() -> None:
    """The API's OpenAPI (Swagger 2.0) description."""


@openapi_group.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("openapi/crowdgate.json"),
    show_default=True,
)
def openapi_export(output: Path) -> None:
    """Write the spec the service serves at /api/v1/swagger.json."""
    from crowdgate.openapi_spec import spec_json

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(spec_json(current_app), encoding="utf-8")
    click.echo(f"crowdgate: wrote {output}")


for _group in GROUPS:
    # Plain click groups: they need no app, no database, only a service's URL and key.
    main.add_command(_group)


if __name__ == "__main__":
    main()
