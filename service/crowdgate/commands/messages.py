"""`crowdgate message`: message a study's workers, each at most once.

The plan always comes first; sending needs a yes (or --yes), and live mode --confirm-live.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click
from crowdgate_client import Client, Job, MessagePlan

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.job_progress import follow, require_success
from crowdgate.commands.output import print_fields, print_json, print_json_lines, print_table

STATUSES = ("started", "completed", "submitted", "approved", "rejected", "returned", "abandoned")
#: Column names a workers file may hold the ids under, as spreadsheets and MTurk spell them.
WORKER_COLUMNS = ("worker_id", "WorkerId", "worker")
OUTCOMES = ("sent", "soft_failure", "hard_failure", "unclear")


@click.group("message")
def message_group() -> None:
    """Messages to a study's workers: a plan first, then each worker reached at most once."""


def read_workers(path: Path) -> list[str]:
    """The worker ids of a file: one per line, or a CSV file's worker_id (WorkerId) column."""
    text = path.read_text(encoding="utf-8-sig")
    lines = [line.strip() for line in text.splitlines()]
    header = next((line for line in lines if line), "")
    if "," in header:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        names = [name.strip() for name in reader.fieldnames or ()]
        column = next((name for name in WORKER_COLUMNS if name in names), None)
        if column is None:
            raise click.ClickException(
                f"{path} has no worker_id column (its columns are: {', '.join(names)})."
            )
        found = [
            (row.get(column) or "").strip()
            for row in ({(k or "").strip(): v for k, v in raw.items()} for raw in reader)
        ]
    else:
        found = [line for line in lines if not line.startswith("#")]
    ids = [worker for worker in found if worker and worker not in WORKER_COLUMNS]
    if not ids:
        raise click.ClickException(f"{path} lists no workers.")
    return ids


def _body(body: str | None, body_file: Path | None) -> str:
    if (body is None) == (body_file is None):
        raise click.UsageError("give --body TEXT or --body-file FILE (one of them).")
    if body_file is not None:
        return body_file.read_text(encoding="utf-8-sig").strip("\n")
    assert body is not None
    return body


def _print_plan(plan: MessagePlan, as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    if plan.refused:
        print_table(
            ("position", "worker", "refused", "detail"),
            ((r.index, r.worker_id, r.code, r.detail) for r in plan.refused),
            title="Refused",
        )
    shown = ", ".join(plan.recipients[:10])
    if plan.count > 10:
        shown += f", ... ({plan.count - 10} more)"
    print_fields(
        [
            ("workers to message", plan.count),
            ("recipients", shown or "-"),
            ("reached already (same message)", plan.already_sent),
            ("failed before (not sent again)", plan.already_failed),
            ("being sent by another job", plan.in_progress),
            ("refused", len(plan.refused)),
            ("message key", plan.key),
        ]
    )


def _print_summary(job: Job, refused: int) -> None:
    counts = job.counts
    print_table(
        ("sent", "soft failure", "hard failure", "unclear", "unsent", "refused"),
        [
            (
                counts.get("sent", 0),
                counts.get("soft_failure", 0),
                counts.get("hard_failure", 0),
                counts.get("unclear", 0),
                counts.get("unsent", 0),
                refused,
            )
        ],
        title=f"Job {job.job_id}: {job.state}",
    )


def _report_failures(client: Client, slug: str, job: Job, plan: MessagePlan) -> None:
    """Name the workers the job could not reach, so the researcher can act on them."""
    message_id = job.result.get("message_id") or plan.message_id
    if not job.failed or message_id is None:
        return
    for row in client.messages.recipients(slug, int(message_id), state="failed"):
        if row.job_id == job.job_id:
            click.echo(f"{row.outcome}: {row.worker_id}: {row.error or '-'}", err=True)


@message_group.command("send")
@click.argument("slug")
@click.option("--subject", required=True, help="The message's subject line.")
@click.option("--body", help="The message's text.")
@click.option(
    "--body-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file holding the message's text (UTF-8).",
)
@click.option("--worker-id", "worker_ids", multiple=True, help="A worker to message (repeatable).")
@click.option(
    "--workers-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Workers to message: one id per line, or a CSV file with a worker_id column.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Message the participants in this status (repeatable).",
)
@click.option("--condition", help="Message the participants in this condition.")
@click.option("--key", help="Name the message (default: derived from subject and body).")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop.")
@click.option("--yes", is_flag=True, help="Send without asking once the plan is shown.")
@click.option("--confirm-live", is_flag=True, help="Needed to message workers in a live study.")
@service_options
@reports_errors
def send(
    slug: str,
    subject: str,
    body: str | None,
    body_file: Path | None,
    worker_ids: tuple[str, ...],
    workers_file: Path | None,
    statuses: tuple[str, ...],
    condition: str | None,
    key: str | None,
    dry_run: bool,
    yes: bool,
    confirm_live: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Message study SLUG's workers: the plan first, then a job with a progress bar."""
    text = _body(body, body_file)
    named = list(worker_ids) + (read_workers(workers_file) if workers_file else [])
    by_filter = bool(statuses) or condition is not None
    if bool(named) == by_filter:
        raise click.UsageError(
            "choose the workers: --worker-id/--workers-file, or --status and/or --condition."
        )
    selection: dict[str, Any] = (
        {"worker_ids": named}
        if named
        else {"status": list(statuses) or None, "condition": condition}
    )
    with connect(url, api_key) as client:
        plan = client.messages.plan(slug, subject, text, key=key, **selection)
        _print_plan(plan, as_json)
        if dry_run:
            click.echo("A plan only: run again without --dry-run to send.", err=True)
            return
        if plan.refused:
            raise click.ClickException(
                f"refused workers (listed above): {len(plan.refused)}; nothing was sent. "
                "Fix or drop them and run again."
            )
        if plan.count == 0:
            click.echo("Nobody new to message.", err=True)
            return
        if not yes and not click.confirm(f"Message {plan.count} workers?", err=True):
            raise click.ClickException("nothing was sent.")
        job = client.messages.send(
            slug,
            subject,
            text,
            key=key,
            confirm="live" if confirm_live else None,
            wait=False,
            **selection,
        )
        job = follow(client, job, f"messaging {slug}")
        if not as_json:
            _print_summary(job, len(plan.refused))
            _report_failures(client, slug, job, plan)
    if as_json:
        print_json(job)
    require_success(job)


@message_group.command("list")
@click.argument("slug")
@service_options
@reports_errors
def list_messages(slug: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Study SLUG's messages, each with its recipients counted by outcome."""
    with connect(url, api_key) as client:
        found = list(client.messages.list(slug))
    if as_json:
        print_json_lines(found)
        return
    print_table(
        ("id", "subject", "sent", "soft failure", "hard failure", "unclear", "unsent", "created"),
        (
            (
                m.id,
                m.subject,
                m.counts.get("sent", 0),
                m.counts.get("soft_failure", 0),
                m.counts.get("hard_failure", 0),
                m.counts.get("unclear", 0),
                m.counts.get("pending", 0) + m.counts.get("sending", 0),
                m.created_at,
            )
            for m in found
        ),
        title=f"{len(found)} messages",
    )


@message_group.command("recipients")
@click.argument("slug")
@click.argument("message_id", type=int)
@click.option("--outcome", type=click.Choice(OUTCOMES), help="Only these.")
@service_options
@reports_errors
def recipients(
    slug: str,
    message_id: int,
    outcome: Any,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Message MESSAGE_ID's recipients: each worker's state, outcome and the platform's word."""
    with connect(url, api_key) as client:
        rows = list(client.messages.recipients(slug, message_id, outcome=outcome))
    if as_json:
        print_json_lines(rows)
        return
    print_table(
        ("worker", "state", "outcome", "code", "sent", "error"),
        ((r.worker_id, r.state, r.outcome, r.platform_code, r.sent_at, r.error) for r in rows),
        title=f"{len(rows)} recipients",
    )
