"""`crowdgate prolific-emulator`: serve the Prolific emulator to rehearse a study offline."""

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
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise click.BadParameter(f"{value!r} is not an amount like 10000.00")
    return f"{amount:.2f}"


@click.command("prolific-emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9100, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file loaded at start and saved after every change.",
)
@click.option(
    "--token",
    default="prolific-emulator-token",
    show_default=True,
    help="The API token clients must send (Authorization: Token ...).",
)
@click.option(
    "--balance",
    default="10000.00",
    show_default=True,
    help="Starting balance in GBP (a --state file keeps its own).",
)
@click.option(
    "--throttle-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of calls answered with 429 Too Many Requests.",
)
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of calls answered with a 500.",
)
@click.option("--latency-ms", default=0, show_default=True, type=click.IntRange(0, 60_000))
@click.option(
    "--pay-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="Seconds before a paid bulk bonus shows (Prolific pays within minutes).",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the ids and fault draws."
)
def prolific_emulator_command(
    host: str,
    port: int,
    state_path: Path | None,
    token: str,
    balance: str,
    throttle_rate: float,
    error_rate: float,
    latency_ms: int,
    pay_delay: float,
    seed: int,
) -> None:
    """Serve an emulated Prolific researcher API, for rehearsals without Prolific."""
    from crowdgate.testing import ProlificEmulator

    if not token.strip():
        raise click.BadParameter("the token must not be empty", param_hint="--token")
    try:
        emulator = ProlificEmulator(
            host=host,
            port=port,
            token=token,
            balance=_money(balance),
            state_path=state_path,
            throttle_rate=throttle_rate,
            error_rate=error_rate,
            latency_ms=latency_ms,
            pay_delay=pay_delay,
            seed=seed,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"Cannot load the state in {state_path}: {exc}") from None
    try:
        emulator.start()
    except OSError as exc:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {exc}") from None
    click.echo(f"Prolific emulator listening on {emulator.api_url}  (Ctrl-C stops it)")
    click.echo(f"Token: {token}")
    click.echo(f"Workspace: {emulator.workspace_id}")
    if state_path is not None:
        click.echo(f"State is kept in {state_path}")
    click.echo("Point crowdgate at it with:")
    click.echo(f"  export CROWDGATE_PROLIFIC_API_URL={emulator.api_url}")
    click.echo(f"  export CROWDGATE_PROLIFIC_TOKEN={token}")
    click.echo(
        f"Seed a study with: curl -X POST {emulator.url}/_emulator/seed/ -d '{{\"places\": 10}}'"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        emulator.stop()
