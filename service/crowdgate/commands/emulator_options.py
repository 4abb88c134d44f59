"""What the emulator commands share: their options, money parsing and serving loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class Serving(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


def money(value: str) -> str:
    """A starting balance as the emulators take it ("10000.00")."""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount like 10000.00") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise click.BadParameter(f"{value!r} is not an amount like 10000.00")
    return f"{amount:.2f}"


def balance_option(currency: str) -> Callable[[F], F]:
    """--balance in ``currency``, checked and spelt as ``money`` does."""
    return click.option(
        "--balance",
        default="10000.00",
        show_default=True,
        callback=lambda _context, _option, value: money(value),
        help=f"Starting balance in {currency} (a --state file keeps its own).",
    )


def listen_options(port: int) -> Callable[[F], F]:
    """--host, --port (default ``port``) and --state."""

    def decorate(command: F) -> F:
        for option in reversed(
            [
                click.option(
                    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
                ),
                click.option(
                    "--port", default=port, show_default=True, type=click.IntRange(0, 65535)
                ),
                click.option(
                    "--state",
                    "state_path",
                    type=click.Path(dir_okay=False, path_type=Path),
                    help="JSON file loaded at start and saved after every change.",
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


def fault_options(*, throttled: str, errored: str, seed_help: str) -> Callable[[F], F]:
    """--throttle-rate (answered with ``throttled``), --error-rate (with ``errored``),
    --latency-ms and --seed."""

    def decorate(command: F) -> F:
        for option in reversed(
            [
                click.option(
                    "--throttle-rate",
                    default=0.0,
                    show_default=True,
                    type=click.FloatRange(0, 1),
                    help=f"Fraction of calls answered with {throttled}.",
                ),
                click.option(
                    "--error-rate",
                    default=0.0,
                    show_default=True,
                    type=click.FloatRange(0, 1),
                    help=f"Fraction of calls answered with {errored}.",
                ),
                click.option(
                    "--latency-ms", default=0, show_default=True, type=click.IntRange(0, 60_000)
                ),
                click.option("--seed", default=0, show_default=True, type=int, help=seed_help),
            ]
        ):
            command = option(command)
        return command

    return decorate


def start(emulator: Serving, host: str, port: int) -> None:
    try:
        emulator.start()
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc}") from None


def serve_until_interrupted(emulator: Serving) -> None:
    """Keep the (started) emulator serving until Ctrl-C, then stop it."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        emulator.stop()
