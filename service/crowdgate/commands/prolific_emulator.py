"""`crowdgate prolific-emulator`: serve the Prolific emulator to rehearse a study offline."""

from __future__ import annotations

from pathlib import Path

import click

from crowdgate.commands.emulator_options import (
    balance_option,
    fault_options,
    listen_options,
    serve_until_interrupted,
    start,
)


@click.command("prolific-emulator")
@listen_options(port=9100)
@click.option(
    "--token",
    default="prolific-emulator-token",
    show_default=True,
    help="The API token clients must send (Authorization: Token ...).",
)
@balance_option("GBP")
@fault_options(
    throttled="429 Too Many Requests",
    errored="a 500",
    seed_help="Seed of the ids and fault draws.",
)
@click.option(
    "--pay-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="Seconds before a paid bulk bonus shows (Prolific pays within minutes).",
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
            balance=balance,
            state_path=state_path,
            throttle_rate=throttle_rate,
            error_rate=error_rate,
            latency_ms=latency_ms,
            pay_delay=pay_delay,
            seed=seed,
        )
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"Cannot load the state in {state_path}: {exc}") from None
    start(emulator, host, port)
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
    serve_until_interrupted(emulator)
