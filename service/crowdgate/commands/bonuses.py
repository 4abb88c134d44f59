"""`crowdgate bonus`: pay a study's bonuses from a CSV file or the participants' state.

The plan always comes first; paying needs a yes (or --yes), and live mode --confirm-live.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click
from crowdgate_client import BonusPlan

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.job_progress import follow, require_success
from crowdgate.commands.output import print_fields, print_json, print_json_lines, print_table


@click.group("bonus")
def bonus_group() -> None:
    """Bonuses: a plan first, then each paid exactly once."""


def _print_plan(plan: BonusPlan, as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    if plan.refused:
        # A file's rows are named by the line a spreadsheet or editor shows them on.
        by_line = all(r.line is not None for r in plan.refused)
        print_table(
            ("line" if by_line else "item", "worker", "amount", "refused", "detail"),
            (
                (r.line if by_line else r.index, r.worker_id, r.amount, r.code, r.detail)
                for r in plan.refused
            ),
            title="Refused",
        )
    print_fields(
        [
            ("bonuses to pay", plan.count),
            ("paid already (same items)", plan.existing),
            ("total", f"{plan.total} {plan.currency}"),
            ("platform fee", f"{plan.fee} {plan.currency}"),
            ("cost", f"{plan.cost} {plan.currency}"),
            ("balance", "-" if plan.balance is None else f"{plan.balance} {plan.currency}"),
            ("balance suffices", plan.sufficient),
            ("refused", len(plan.refused)),
        ]
    )


@bonus_group.command("pay")
@click.argument("slug")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Bonuses to pay: a CSV file with columns worker_id (or WorkerId, Participant id) "
    "and amount; reason, assignment_id (or AssignmentId) and key are optional.",
)
@click.option("--from-state", help="Pay each participant the amount in this key of their state.")
@click.option("--reason", default="", help="What workers read, for rows that give none.")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option("--yes", is_flag=True, help="Pay without asking once the plan is shown.")
@click.option("--confirm-live", is_flag=True, help="Needed to pay bonuses in a live study.")
@service_options
@reports_errors
def pay(
    slug: str,
    csv_path: Path | None,
    from_state: str | None,
    reason: str,
    dry_run: bool,
    yes: bool,
    confirm_live: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Pay study SLUG's bonuses: the plan first, then a job with a progress bar."""
    if (csv_path is None) == (from_state is None):
        raise click.UsageError("give --csv FILE or --from-state KEY (one of them).")
    with connect(url, api_key) as client:
        # The file goes up as it is: the service checks it and names any bad line.
        plan = client.bonuses.plan(slug, from_state=from_state, csv=csv_path, reason=reason)
        _print_plan(plan, as_json)
        if dry_run:
            click.echo("A plan only: run again without --dry-run to pay.", err=True)
            return
        if plan.refused:
            raise click.ClickException(
                f"refused items (listed above): {len(plan.refused)}; nothing was paid. "
                "Fix or drop them and run again."
            )
        if plan.count == 0:
            click.echo("Nothing new to pay.", err=True)
            return
        if not yes and not click.confirm(
            f"Pay {plan.count} bonuses, {plan.cost} {plan.currency} with fees?", err=True
        ):
            raise click.ClickException("nothing was paid.")
        job = client.bonuses.pay(
            slug,
            from_state=from_state,
            csv=csv_path,
            reason=reason,
            confirm="live" if confirm_live else None,
            wait=False,
        )
        job = follow(client, job, f"paying {slug}")
        rows = list(client.bonuses.ledger(slug)) if not as_json else []
    if as_json:
        print_json(job)
    else:
        states = Counter(row.state for row in rows if row.job_id == job.job_id)
        print_table(
            ("sent", "failed", "unsent", "refused"),
            [
                (
                    states["sent"],
                    states["failed"],
                    states["pending"] + states["sending"],
                    len(plan.refused),
                )
            ],
            title=f"Job {job.job_id}: {job.state}",
        )
        for row in rows:
            if row.job_id == job.job_id and row.state == "failed":
                click.echo(f"failed: {row.worker_id} {row.amount}: {row.last_error}", err=True)
    require_success(job)


@bonus_group.command("list")
@click.argument("slug")
@click.option(
    "--state", type=click.Choice(("pending", "sending", "sent", "failed")), help="Only these."
)
@service_options
@reports_errors
def list_bonuses(
    slug: str, state: Any, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Study SLUG's bonus ledger: each bonus, its state and its last error."""
    with connect(url, api_key) as client:
        rows = list(client.bonuses.ledger(slug, state=state))
    if as_json:
        print_json_lines(rows)
        return
    print_table(
        ("worker", "assignment", "amount", "state", "sent", "error"),
        ((r.worker_id, r.assignment_id, r.amount, r.state, r.sent_at, r.last_error) for r in rows),
        title=f"{len(rows)} bonuses",
    )
