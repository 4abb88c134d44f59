"""`crowdgate qualifications create|list|grant|revoke`: a platform's qualification types.

Worker ids come as arguments and/or ``--file`` (one per line, ``-`` for stdin). Every
id is checked before anything is sent, because lists longer than the service takes
in one request go as several: a bad id on line 250 must not stop the run half done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar

import click
from crowdgate_client import CrowdgateError, Mode, Platform, WorkerOutcome
from crowdgate_client.qualification_calls import MAX_WORKERS

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.output import (
    print_fields,
    print_json,
    print_json_lines,
    print_table,
    progress_bar,
)
from crowdgate.platforms import PLATFORM_NAMES, get_platform

MODES = ("sandbox", "live")
F = TypeVar("F", bound=Callable[..., Any])


def platform_options(command: F) -> F:
    """--platform and --mode, shared by every qualification command."""
    command = click.option(
        "--mode",
        type=click.Choice(MODES),
        default="sandbox",
        show_default=True,
        help="Sandbox and live each have their own qualification types.",
    )(command)
    return click.option(
        "--platform",
        type=click.Choice(PLATFORM_NAMES),
        default="mturk",
        show_default=True,
    )(command)


def workers_options(command: F) -> F:
    command = click.option(
        "--file",
        "worker_file",
        type=click.File("r", encoding="utf-8-sig"),
        help="A file with one worker id per line ('-' reads stdin); blank lines are skipped.",
    )(command)
    return click.argument("worker_ids", nargs=-1)(command)


@click.group("qualifications")
def qualifications_group() -> None:
    """Qualification types: create, list who holds one, grant, revoke."""


@qualifications_group.command("create")
@click.argument("name")
@click.option("--description", required=True, help="What holding it means; workers see it.")
@click.option(
    "--no-reuse",
    is_flag=True,
    help="Fail if a type of this name exists, instead of using that one.",
)
@platform_options
@service_options
@reports_errors
def create(
    name: str,
    description: str,
    no_reuse: bool,
    platform: Platform,
    mode: Mode,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Create a qualification type called NAME, or reuse the account's type of that name."""
    with connect(url, api_key) as client:
        found = client.create_qualification_type(
            name, description, platform=platform, mode=mode, reuse_existing=not no_reuse
        )
    if as_json:
        print_json(found)
        return
    print_fields(
        [("id", found.id), ("name", found.name), ("platform", found.platform), ("mode", found.mode)]
    )
    click.echo("created" if found.created else "an existing type of this name: reused", err=True)


@qualifications_group.command("list")
@click.argument("type_id")
@platform_options
@service_options
@reports_errors
def list_holders(
    type_id: str,
    platform: Platform,
    mode: Mode,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """The workers holding qualification type TYPE_ID, with their values."""
    with connect(url, api_key) as client:
        holders = client.qualified_workers(type_id, platform=platform, mode=mode)
    if as_json:
        print_json_lines(holders)
        return
    print_table(
        ("worker", "value", "granted"), ((h.worker_id, h.value, h.granted_at) for h in holders)
    )
    click.echo(f"{len(holders)} workers", err=True)


@qualifications_group.command("grant")
@click.argument("type_id")
@workers_options
@click.option("--value", type=int, default=1, show_default=True, help="The value each gets.")
@click.option("--notify", is_flag=True, help="Have the platform tell each worker.")
@platform_options
@service_options
@reports_errors
def grant(
    type_id: str,
    worker_ids: tuple[str, ...],
    worker_file: IO[str] | None,
    value: int,
    notify: bool,
    platform: Platform,
    mode: Mode,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Grant qualification type TYPE_ID to WORKER_IDS and/or the workers in --file.

    Workers are not told unless --notify. Exits 1 if the platform refused any worker.
    """
    workers = _workers(worker_ids, worker_file, platform)
    with connect(url, api_key) as client:
        outcomes = _each_chunk(
            workers,
            "granting",
            as_json,
            lambda chunk: (
                client.grant_qualification(
                    type_id, chunk, value=value, notify=notify, platform=platform, mode=mode
                ).results
            ),
        )
    _report(outcomes, "granted", as_json)


@qualifications_group.command("revoke")
@click.argument("type_id")
@workers_options
@click.option("--reason", required=True, help="Why; MTurk e-mails it to each worker.")
@click.option("--confirm-live", is_flag=True, help="Needed to revoke in live mode.")
@platform_options
@service_options
@reports_errors
def revoke(
    type_id: str,
    worker_ids: tuple[str, ...],
    worker_file: IO[str] | None,
    reason: str,
    confirm_live: bool,
    platform: Platform,
    mode: Mode,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Revoke qualification type TYPE_ID from WORKER_IDS and/or the workers in --file.

    MTurk e-mails each worker the reason. Exits 1 if the platform refused any worker.
    """
    if mode == "live" and not confirm_live:
        raise click.UsageError(
            "Revoking in live mode e-mails every worker the reason: add --confirm-live."
        )
    workers = _workers(worker_ids, worker_file, platform)
    with connect(url, api_key) as client:
        outcomes = _each_chunk(
            workers,
            "revoking",
            as_json,
            lambda chunk: (
                client.revoke_qualification(
                    type_id,
                    chunk,
                    reason=reason,
                    confirm="live" if confirm_live else None,
                    platform=platform,
                    mode=mode,
                ).results
            ),
        )
    _report(outcomes, "revoked", as_json)


def _workers(given: Sequence[str], worker_file: IO[str] | None, platform: str) -> list[str]:
    """The ids from the arguments, then the file: each checked, repeats dropped, in order."""
    sources = [(f"argument {i}", worker.strip()) for i, worker in enumerate(given, 1)]
    if worker_file is not None:
        sources += [
            (f"line {number} of {worker_file.name}", line.strip())
            for number, line in enumerate(worker_file, 1)
            if line.strip()
        ]
    if not sources:
        raise click.UsageError("Name the workers: as arguments, or --file with one id per line.")
    checker = get_platform(platform)
    workers: list[str] = []
    for where, worker in sources:
        problem = checker.validate_worker_id(worker)
        if problem:
            raise click.ClickException(f"{where}: {worker!r} {problem}")
        if worker not in workers:
            workers.append(worker)
    if len(workers) < len(sources):
        click.echo(f"{len(sources) - len(workers)} repeated worker ids skipped", err=True)
    return workers


def _each_chunk(
    workers: list[str],
    what: str,
    as_json: bool,
    send: Callable[[list[str]], Sequence[WorkerOutcome]],
) -> list[WorkerOutcome]:
    """Send the workers ``MAX_WORKERS`` at a time; every outcome, in order."""
    outcomes: list[WorkerOutcome] = []
    with progress_bar(f"{what} {len(workers)} workers", total=len(workers)) as advance:
        for start in range(0, len(workers), MAX_WORKERS):
            chunk = workers[start : start + MAX_WORKERS]
            try:
                outcomes += send(chunk)
            except CrowdgateError:
                if outcomes:
                    # Show what was done before the refusal; the error line follows.
                    _print_outcomes(outcomes, as_json)
                    click.echo(
                        f"stopped after {len(outcomes)} of {len(workers)} workers; "
                        "the rest were not sent",
                        err=True,
                    )
                raise
            advance(len(chunk))
    return outcomes


def _print_outcomes(outcomes: Sequence[WorkerOutcome], as_json: bool) -> None:
    if as_json:
        print_json_lines(outcomes)
        return
    print_table(
        ("worker", "outcome", "error"),
        (
            (
                o.worker_id,
                o.outcome,
                f"{o.error.platform_code or o.error.code}: {o.error.message}" if o.error else None,
            )
            for o in outcomes
        ),
    )


def _report(outcomes: Sequence[WorkerOutcome], done: str, as_json: bool) -> None:
    _print_outcomes(outcomes, as_json)
    failed = sum(1 for o in outcomes if not o.ok)
    click.echo(f"{len(outcomes) - failed} {done}, {failed} failed", err=True)
    if failed:
        retryable = all(o.error is not None and o.error.retryable for o in outcomes if not o.ok)
        hint = " (the platform was busy or down: try them again later)" if retryable else ""
        raise click.ClickException(f"{failed} of {len(outcomes)} workers failed{hint}")
