"""`crowdgate mturk-emulator`: serve crowdgate's MTurk emulator to rehearse a study offline."""

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


@click.command("mturk-emulator")
@listen_options(port=9000)
@balance_option("USD")
@fault_options(
    throttled="ThrottlingException",
    errored="a 500 ServiceFault",
    seed_help="Seed of the fault draws.",
)
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
        balance=balance,
        state_path=state_path,
        throttle_rate=throttle_rate,
        error_rate=error_rate,
        latency_ms=latency_ms,
        seed=seed,
    )
    start(emulator, host, port)
    url = emulator.url
    click.echo(f"MTurk emulator listening on {url}  (Ctrl-C stops it)", nl=True)
    if state_path is not None:
        click.echo(f"State is kept in {state_path}")
    click.echo("Point crowdgate and boto3 at it with (credentials are not checked):")
    click.echo(f"  export CROWDGATE_MTURK_ENDPOINT_URL={url}")
    click.echo("  export AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator")
    click.echo("  export AWS_DEFAULT_REGION=us-east-1")
    click.echo(f"Seed HITs with: curl -X POST {url}/_emulator/seed -d '{{\"assignments\": 10}}'")
    serve_until_interrupted(emulator)
