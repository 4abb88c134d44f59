"""`crowdgate participants list|show|export`: a study's participants over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import cast, get_args

import click
from crowdgate_client.models import Status

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.exports import download
from crowdgate.commands.output import (
    print_fields,
    print_json,
    print_json_lines,
    print_table,
)

STATUSES: tuple[str, ...] = get_args(Status)


def _status(value: str | None) -> Status | None:
    return cast("Status | None", value)  # click.Choice(STATUSES) admitted it


@click.group("participants")
def participants_group() -> None:
    """List, show and export a study's participants."""


def filter_options(command: click.decorators.FC) -> click.decorators.FC:
    command = click.option("--condition", help="Only this condition.")(command)
    return click.option("--status", type=click.Choice(STATUSES), help="Only this status.")(command)


@participants_group.command("list")
@click.argument("slug")
@filter_options
@service_options
@reports_errors
def list_(
    slug: str,
    status: str | None,
    condition: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """The participants of study SLUG in the order they started (JSON: one per line)."""
    with connect(url, api_key) as client:
        found = client.participants(slug, status=_status(status), condition=condition)
        if as_json:
            print_json_lines(found)
            return
        count = print_table(
            ("worker", "attempt", "condition", "status", "code", "started", "completed"),
            (
                (
                    p.worker_id,
                    p.attempt,
                    p.condition,
                    p.status,
                    p.completion_code,
                    p.started_at,
                    p.completed_at,
                )
                for p in found
            ),
        )
    click.echo(f"{count} participant{'s' if count != 1 else ''}", err=True)


@participants_group.command("show")
@click.argument("slug")
@click.argument("worker_id")
@service_options
@reports_errors
def show(slug: str, worker_id: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """One participant's latest attempt and every status change."""
    with connect(url, api_key) as client:
        participant = client.get_participant(slug, worker_id)
    if as_json:
        print_json(participant)
        return
    print_fields(
        [
            ("worker", participant.worker_id),
            ("attempt", participant.attempt),
            ("assignment", participant.assignment_id),
            ("hit", participant.hit_id),
            ("session", participant.session_id),
            ("condition", participant.condition),
            ("status", participant.status),
            ("completion code", participant.completion_code),
            ("lease expires", participant.lease_expires_at),
            ("started", participant.started_at),
            ("completed", participant.completed_at),
            ("state", dict(participant.state)),
        ]
    )
    print_table(
        ("at", "status", "detail"), ((e.at, e.status, e.detail) for e in participant.events)
    )


@participants_group.command("export")
@click.argument("slug")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The CSV file to write (written whole or not at all); standard output if not given.",
)
@filter_options
@service_options
@reports_errors
def export(
    slug: str,
    output: Path | None,
    status: str | None,
    condition: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Stream study SLUG's participants as CSV, with a progress bar on a terminal."""
    if as_json:
        raise click.UsageError("export writes CSV; use `participants list --json` for JSON.")
    download(
        url,
        api_key,
        f"exporting {slug}",
        output,
        lambda client, destination, progress: client.export_participants(
            slug,
            destination,
            status=_status(status),
            condition=condition,
            progress=progress,
        ),
    )
