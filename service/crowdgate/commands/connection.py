"""Reaching a crowdgate service from the command line: --url, --api-key, and clear failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from crowdgate_client import Client, CrowdgateError

F = TypeVar("F", bound=Callable[..., Any])


def service_options(command: F) -> F:
    """--url, --api-key and --json, shared by every command that goes over HTTP."""
    options = (
        click.option(
            "--url",
            envvar="CROWDGATE_URL",
            metavar="URL",
            help="The crowdgate service, e.g. https://crowdgate.example.org [env CROWDGATE_URL].",
        ),
        click.option(
            "--api-key",
            envvar="CROWDGATE_API_KEY",
            metavar="KEY",
            help="An admin key from `crowdgate keys create --admin` [env CROWDGATE_API_KEY].",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def connect(url: str | None, api_key: str | None) -> Client:
    if not url:
        raise click.UsageError("Say which service: --url URL or the CROWDGATE_URL variable.")
    if not api_key:
        raise click.UsageError(
            "An admin key is needed: --api-key KEY or the CROWDGATE_API_KEY variable "
            "(create one with `crowdgate keys create --admin`)."
        )
    return Client(url, api_key)


def reports_errors(command: F) -> F:
    """Turn the SDK's errors into one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CrowdgateError as exc:
            raise click.ClickException(_one_line(exc)) from None
        except OSError as exc:  # writing an export: disk full, no permission
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}") from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: CrowdgateError) -> str:
    text = str(exc)
    if exc.fields:
        details = "; ".join(
            f"{name}: {' '.join(map(str, problems)) if isinstance(problems, list) else problems}"
            for name, problems in exc.fields.items()
        )
        if details not in text:
            text = f"{text} [{details}]"
    return " ".join(text.split())
