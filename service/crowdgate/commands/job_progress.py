"""Following a job from the command line: a progress bar on a terminal, then its end."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from crowdgate_client import Client
from crowdgate_client.platform_models import Job
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


def duration(seconds: float) -> str:
    """Seconds as a person reads them: 45 s, 3 min 20 s, 2 h 05 min."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def pace(job: Job) -> str:
    """The job's rate and time left as the service estimates them ('' until it can)."""
    parts = []
    if job.rate_per_second is not None:
        parts.append(f"{job.rate_per_second:.3g}/s")
    if job.eta_seconds is not None:
        parts.append(f"about {duration(job.eta_seconds)} left")
    if job.cancel_requested and not job.finished:
        parts.append("cancelling")
    return ", ".join(parts)


@contextmanager
def _job_bar(what: str) -> Iterator[Callable[[Job], None]]:
    """A bar on a terminal (stderr) that each poll's job moves; nothing otherwise, so
    cron jobs and CI logs stay quiet."""
    if not sys.stderr.isatty():
        yield lambda _job: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        # The service's rate and ETA: it sees every runner's items, this process does not.
        TextColumn("{task.fields[pace]}"),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(what, total=None, pace="")

        def show(job: Job) -> None:
            progress.update(task, total=job.total or None, completed=job.done, pace=pace(job))

        yield show


def follow(client: Client, job: Job, what: str) -> Job:
    """Wait for the job to finish, showing its progress, rate and time left."""
    if job.finished:
        return job
    with _job_bar(what) as show:
        finished = client.wait_for_job(job, poll=0.5, on_progress=show)
    # The answer that started the job may say more (e.g. that it resumed one); polls do not.
    return finished.with_extra(**job.extra)


def require_success(job: Job) -> None:
    """Exit 1 with the job's error unless it succeeded."""
    if job.state != "succeeded":
        raise click.ClickException(f"job {job.job_id} {job.state}: {job.error or 'see above'}")
