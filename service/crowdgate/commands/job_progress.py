"""Following a job from the command line: a progress bar on a terminal, then its end."""

from __future__ import annotations

import dataclasses

import click
from crowdgate_client import Client
from crowdgate_client.platform_models import Job

from crowdgate.commands.output import progress_bar


def follow(client: Client, job: Job, what: str) -> Job:
    """Wait for the job to finish, advancing a progress bar by its done count."""
    if job.finished:
        return job
    with progress_bar(what, total=job.total or None) as advance:
        seen = 0

        def progress(current: Job) -> None:
            nonlocal seen
            advance(current.done - seen)
            seen = current.done

        finished = client.wait_for_job(job, poll=0.5, on_progress=progress)
    # The answer that started the job may say more (e.g. that it resumed one); polls do not.
    return dataclasses.replace(finished, extra={**finished.extra, **job.extra})


def require_success(job: Job) -> None:
    """Exit 1 with the job's error unless it succeeded."""
    if job.state != "succeeded":
        raise click.ClickException(f"job {job.job_id} {job.state}: {job.error or 'see above'}")
