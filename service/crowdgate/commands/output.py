"""How researcher commands print: a readable table by default, JSON for scripts.

Tables go through rich, which sizes columns to the terminal; when the output is a
pipe or a file, lines are not wrapped, so ``grep`` and ``cut`` see one row per line.
Progress bars show only on a terminal, so cron jobs and CI logs stay quiet.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table


def console() -> Console:
    # A pipe or a file gets long lines rather than wrapped cells.
    if sys.stdout.isatty():
        return Console()
    return Console(width=10_000, no_color=True, soft_wrap=True)


def plain(value: Any) -> Any:
    """A model (dataclass) as JSON-ready data: datetimes as ISO 8601 strings."""
    if isinstance(value, Mapping):  # before dataclasses: the SDK's State is both
        return {str(key): plain(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {
            field.name: plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.name != "extra"
        }
        # Fields a newer service sends that this SDK does not know yet: keep them.
        return {**plain(dict(getattr(value, "extra", None) or {})), **data}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def print_json(data: Any) -> None:
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


def print_json_lines(items: Iterable[Any]) -> None:
    """One JSON object per line: lists can be long, and stream as they are read."""
    for item in items:
        click.echo(json.dumps(plain(item), ensure_ascii=False))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(plain(value), ensure_ascii=False)
    return str(value)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "") -> int:
    """Print rows under the column names; returns how many rows there were."""
    table = Table(*columns, title=title or None, box=None, header_style="bold", pad_edge=False)
    count = 0
    for row in rows:
        table.add_row(*(cell(value) for value in row))
        count += 1
    console().print(table)
    return count


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """One record as 'name  value' lines."""
    print_table(("field", "value"), pairs)


@contextmanager
def progress_bar(description: str, *, total: int | None, unit: str = "items") -> Any:
    """A progress bar on a terminal (stderr), nothing otherwise; yields advance(n)."""
    if not sys.stderr.isatty():
        yield lambda _n=1: None
        return
    if unit == "bytes":
        columns: tuple[Any, ...] = (DownloadColumn(), TransferSpeedColumn())
    else:
        columns = (MofNCompleteColumn(),)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
