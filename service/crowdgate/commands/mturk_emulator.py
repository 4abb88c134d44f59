"""`crowdgate mturk-emulator`: serve crowdgate's MTurk emulator to rehearse a study offline."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click


def _money(value: str) -> str:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount like 10000.00") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise click.BadParameter(f"{value!r} is not an amount like 10000.00")
    return f"{amount:.2f}"


@click.command("mturk-emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file loaded at start and saved after every change.",
)
@click.option(
    "--balance",
    default="10000.00",
    show_default=True,
    help="Starting balance in USD (a --state file keeps its own).",
)
@click.option(
    "--throttle-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of calls answered with ThrottlingException.",
)
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of calls answered with a 500 ServiceFault.",
)
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0, 60_000))
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault draws.")
def mturk_emulator_command(
    host: str,
    port: int,
    state_path: Path | None,
    balance: str,
    throttle_rate: float,
    error_rate: float,
    latency_ms: int,
    seed: int,
) -> None:
    """Serve an emulated MTurk requester endpoint (MTurk itself closed on 2026-09-30)."""
    from crowdgate.testing import MTurkEmulator

    emulator = MTurkEmulator(
        host=host,
        port=port,
        balance=_money(balance),
        state_path=state_path,
        throttle_rate=throttle_rate,
        error_rate=error_rate,
        latency_ms=latency_ms,
        seed=seed,
    )
    try:
        emulator.start()
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc}") from None
    url = emulator.url
    click.echo(f"MTurk emulator listening on {url}  (Ctrl-C stops it)", nl=True)
    if state_path is not None:
        click.echo(f"State is kept in {state_path}")
    click.echo("Point crowdgate and boto3 at it with (credentials are not checked):")
    click.echo(f"  export CROWDGATE_MTURK_ENDPOINT_URL={url}")
    click.echo("  export AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator")
    click.echo("  export AWS_DEFAULT_REGION=us-east-1")
    click.echo(f"Seed HITs with: curl -X POST {url}/_emulator/seed -d '{{\"assignments\": 10}}'")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        emulator.stop()
