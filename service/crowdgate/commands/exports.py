"""CSV downloads from the command line: to a file or standard output, with progress."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import click
from crowdgate_client import Client

from crowdgate.commands.connection import connect
from crowdgate.commands.output import progress_bar

#: Streams the CSV into the destination, reporting bytes written so far; returns the size.
Download = Callable[[Client, "Path | IO[bytes]", Callable[[int], None]], int]


def download(
    url: str | None, api_key: str | None, label: str, output: Path | None, call: Download
) -> None:
    with connect(url, api_key) as client, progress_bar(label, total=None, unit="bytes") as advance:
        written = 0

        def progress(total_written: int) -> None:
            nonlocal written
            advance(total_written - written)
            written = total_written

        destination = output if output is not None else sys.stdout.buffer
        size = call(client, destination, progress)
    if output is not None:
        click.echo(f"crowdgate: wrote {size} bytes to {output}", err=True)
