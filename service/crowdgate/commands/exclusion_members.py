"""`crowdgate exclusions members|add|remove|upload|export`: who is in a group, and changing it.

Listed workers and HITs go in one request, removals first, so a worker both added and
removed stays a member; each file goes in a request of its own after them. Every
change prints its counts, and the workers named for removal who stayed, with why.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast, get_args

import click
from crowdgate_client import Client, MemberChangeResult
from crowdgate_client.exclusion_models import FileAction
from crowdgate_client.models import Mode, Platform

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.exports import download
from crowdgate.commands.output import print_json_lines, print_table

MODES: tuple[str, ...] = get_args(Mode)
PLATFORMS: tuple[str, ...] = get_args(Platform)
#: Members fetched per request when listing.
PAGE = 1000

files_option = click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An MTurk batch results CSV (WorkerId), a Prolific export (Participant id) or one "
    "id per line; repeat for each.",
)


@click.command("members")
@click.argument("name")
@click.option(
    "--hash-ids",
    is_flag=True,
    help="Show keyed hashes (HMAC-SHA256 under the service's CROWDGATE_ID_HASH_KEY) "
    "instead of worker ids.",
)
@service_options
@reports_errors
def members(name: str, hash_ids: bool, url: str | None, api_key: str | None, as_json: bool) -> None:
    """The group's members in worker id order, with where and when each joined."""
    with connect(url, api_key) as client:
        found = client.exclusion_members(name, hash_ids=hash_ids, page_size=PAGE)
        if as_json:
            print_json_lines(found)
            return
        count = print_table(
            ("worker", "first added", "sources"),
            (
                (m.worker_id, m.first_added_at, ", ".join(s.source for s in m.sources))
                for m in found
            ),
        )
    click.echo(f"{count} member{'s' if count != 1 else ''}", err=True)


def _print_change(result: MemberChangeResult, what: str) -> None:
    counts = [
        ("added", result.added),
        ("already members", result.already_members),
        ("removed", result.removed),
        ("kept", result.kept),
        ("not members", result.not_members),
    ]
    shown = ", ".join(f"{count} {label}" for label, count in counts if count)
    size = f"{result.members} member{'s' if result.members != 1 else ''}"
    click.echo(f"{what}: {shown or 'no change'}; the group has {size}")
    for hit in result.hits:
        click.echo(f"  HIT {hit.hit_id}: {hit.workers} workers")
    if result.kept_workers:
        print_table(
            ("kept worker", "why", "member by"),
            ((k.worker_id, k.reason.replace("_", " "), ", ".join(k.sources))
             for k in result.kept_workers),
        )  # fmt: skip
    if result.unmatched_hit_ids:
        click.echo(f"No member came from HIT(s): {', '.join(result.unmatched_hit_ids)}", err=True)


def _change(
    client: Client,
    name: str,
    *,
    add_workers: tuple[str, ...] = (),
    add_hits: tuple[str, ...] = (),
    remove_workers: tuple[str, ...] = (),
    remove_hits: tuple[str, ...] = (),
    files: tuple[Path, ...] = (),
    file_action: FileAction = "add",
    platform: str | None = None,
    mode: str | None = None,
    as_json: bool,
) -> None:
    """The listed changes in one request (removals first), then each file in its own."""
    results: list[tuple[str, MemberChangeResult]] = []
    if add_workers or add_hits or remove_workers or remove_hits:
        result = client.change_exclusion_members(
            name,
            add_worker_ids=add_workers,
            add_hit_ids=add_hits,
            remove_worker_ids=remove_workers,
            remove_hit_ids=remove_hits,
            platform=cast("Platform | None", platform),
            mode=cast("Mode | None", mode),
        )
        results.append(("listed workers and HITs", result))
    for path in files:
        result = client.upload_exclusion_members(name, path, action=file_action)
        read = f" ({result.file.workers} workers, {result.file.read_from})" if result.file else ""
        results.append((f"{path.name}{read}", result))
    if as_json:
        print_json_lines(result for _, result in results)
        return
    for what, result in results:
        _print_change(result, what)


@click.command("add")
@click.argument("name")
@click.option("--worker", "workers", multiple=True, metavar="ID", help="A worker (repeat).")
@click.option("--hit", "hits", multiple=True, metavar="ID", help="A HIT whose workers to add.")
@files_option
@click.option(
    "--remove-worker",
    "remove_workers",
    multiple=True,
    metavar="ID",
    help="Also remove this worker, in the same request and first: a worker both added "
    "and removed stays a member.",
)
@click.option("--remove-hit", "remove_hits", multiple=True, metavar="ID")
@click.option("--platform", type=click.Choice(PLATFORMS), help="Where the HITs are (default: "
              "the group's binding).")  # fmt: skip
@click.option("--mode", type=click.Choice(MODES), help="With --platform.")
@service_options
@reports_errors
def add(
    name: str,
    workers: tuple[str, ...],
    hits: tuple[str, ...],
    files: tuple[Path, ...],
    remove_workers: tuple[str, ...],
    remove_hits: tuple[str, ...],
    platform: str | None,
    mode: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Add workers to the group NAME: listed, every worker of HITs, and files' workers."""
    if not (workers or hits or files):
        raise click.UsageError("Nothing to add: give --worker, --hit or --file.")
    with connect(url, api_key) as client:
        _change(
            client,
            name,
            add_workers=workers,
            add_hits=hits,
            remove_workers=remove_workers,
            remove_hits=remove_hits,
            files=files,
            platform=platform,
            mode=mode,
            as_json=as_json,
        )


@click.command("remove")
@click.argument("name")
@click.option("--worker", "workers", multiple=True, metavar="ID", help="A worker (repeat).")
@click.option(
    "--hit",
    "hits",
    multiple=True,
    metavar="ID",
    help="A HIT: removes what adding it put in, keeping workers another source holds.",
)
@files_option
@service_options
@reports_errors
def remove(
    name: str,
    workers: tuple[str, ...],
    hits: tuple[str, ...],
    files: tuple[Path, ...],
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Remove workers from the group NAME: listed ones, a HIT's, or a file's."""
    if not (workers or hits or files):
        raise click.UsageError("Nothing to remove: give --worker, --hit or --file.")
    with connect(url, api_key) as client:
        _change(
            client,
            name,
            remove_workers=workers,
            remove_hits=hits,
            files=files,
            file_action="remove",
            as_json=as_json,
        )


@click.command("upload")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--remove", "removing", is_flag=True, help="Remove the file's workers instead.")
@service_options
@reports_errors
def upload(
    name: str, file: Path, removing: bool, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Add the workers of FILE to the group NAME: an MTurk batch results CSV, a Prolific
    export, or one id per line."""
    with connect(url, api_key) as client:
        _change(
            client,
            name,
            files=(file,),
            file_action="remove" if removing else "add",
            as_json=as_json,
        )


@click.command("export")
@click.argument("name")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The CSV file to write (written whole or not at all); standard output if not given.",
)
@click.option(
    "--hash-ids",
    is_flag=True,
    help="Replace worker ids with HMAC-SHA256 under the service's CROWDGATE_ID_HASH_KEY.",
)
@service_options
@reports_errors
def export(
    name: str,
    output: Path | None,
    hash_ids: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Stream the group's members as CSV: worker_id, first_added_at, sources."""
    if as_json:
        raise click.UsageError("export writes CSV; use `exclusions members --json` for JSON.")
    download(
        url,
        api_key,
        f"exporting {name}",
        output,
        lambda client, destination, progress: client.export_exclusion_members(
            name, destination, hash_ids=hash_ids, progress=progress
        ),
    )


MEMBER_COMMANDS: tuple[click.Command, ...] = (members, add, remove, upload, export)
