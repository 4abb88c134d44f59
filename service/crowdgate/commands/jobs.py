"""`crowdgate jobs`: look at a bulk job (sync, review, bonuses...) and cancel it."""

from __future__ import annotations

from typing import Any

import click
from crowdgate_client.platform_models import Job

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.job_progress import duration, follow, require_success
from crowdgate.commands.output import print_fields, print_json


@click.group("jobs")
def jobs_group() -> None:
    """Bulk jobs: their progress, and cancelling them."""


def _show(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    pairs: list[tuple[str, Any]] = [
        ("job", job.job_id),
        ("kind", job.kind),
        ("study", job.study),
        ("state", job.state),
        ("done", f"{job.done} of {job.total}"),
        ("failed", job.failed),
    ]
    pairs += [(name, count) for name, count in sorted(job.counts.items())]
    if job.rate_per_second is not None:
        pairs.append(("rate", f"{job.rate_per_second:.3g} items/s"))
    if job.eta_seconds is not None:
        pairs.append(("time left", f"about {duration(job.eta_seconds)}"))
    if job.cancel_requested:
        pairs.append(("cancel requested", "yes"))
    pairs += [
        ("created", job.created_at),
        ("started", job.started_at),
        ("finished", job.finished_at),
    ]
    if job.error:
        pairs.append(("error", f"{job.error} ({job.error_code})" if job.error_code else job.error))
    print_fields(pairs)


@jobs_group.command("show")
@click.argument("job_id")
@click.option(
    "--wait", is_flag=True, help="Follow the job until it ends; exit 1 unless it succeeded."
)
@service_options
@reports_errors
def show(job_id: str, wait: bool, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Job JOB_ID's state, counts, rate and time left (as the service estimates them)."""
    with connect(url, api_key) as client:
        job = client.get_job(job_id)
        if wait:
            job = follow(client, job, f"{job.kind} {job_id}")
    _show(job, as_json)
    if wait:
        require_success(job)


@jobs_group.command("cancel")
@click.argument("job_id")
@service_options
@reports_errors
def cancel(job_id: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Cancel job JOB_ID: a queued job at once; a running one stops before its next batch
    and what it has not sent yet stays unsent."""
    with connect(url, api_key) as client:
        job = client.cancel_job(job_id)
    _show(job, as_json)
    if as_json:
        return
    if job.finished:
        click.echo(f"Job {job_id} is {job.state}.", err=True)
    else:
        click.echo(
            f"Job {job_id} will stop before its next batch; `crowdgate jobs show {job_id} "
            "--wait` follows it to the end.",
            err=True,
        )
