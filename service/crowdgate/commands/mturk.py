"""`crowdgate mturk balance|sync|review|reconcile|hits`: MTurk work over HTTP, through the SDK.

Anything that acts on the platform is a preview unless asked for (`--apply`,
`--create`), and a live study also needs `--confirm-live`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from crowdgate_client import HitPlan, Job, ReviewPlan

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.job_progress import follow, require_success
from crowdgate.commands.output import print_fields, print_json, print_table

MODES = ("sandbox", "live")


@click.group("mturk")
def mturk_group() -> None:
    """Amazon Mechanical Turk: balance, sync, review, reconcile files, HITs."""


def _print_job(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    pairs: list[tuple[str, Any]] = [("job", job.job_id), ("kind", job.kind), ("state", job.state)]
    pairs += [(name, count) for name, count in sorted(job.counts.items())]
    if job.error:
        pairs.append(("error", job.error))
    print_fields(pairs)


def balance_command(platform: str, account: str) -> click.Command:
    """`balance` for ``platform``, whose account the help names (``account``)."""

    @click.command("balance", help=f"The {account} available balance.")
    @click.option("--mode", type=click.Choice(MODES), default="sandbox", show_default=True)
    @service_options
    @reports_errors
    def balance(mode: str, url: str | None, api_key: str | None, as_json: bool) -> None:
        with connect(url, api_key) as client:
            found = client.balance(platform, mode)
        if as_json:
            print_json(found)
        else:
            click.echo(f"{found.balance:.2f} {found.currency} ({mode})")

    return balance


mturk_group.add_command(balance_command("mturk", "MTurk account's"))


@mturk_group.command("sync")
@click.argument("slug")
@service_options
@reports_errors
def sync(slug: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Pull every submission of study SLUG's postings (MTurk HITs, Prolific studies)
    into crowdgate's record."""
    with connect(url, api_key) as client:
        job = client.sync(slug, wait=False)
        job = follow(client, job, f"syncing {slug}")
    _print_job(job, as_json)
    require_success(job)


def _print_plan(plan: ReviewPlan, as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    print_table(
        ("assignment", "worker", "code", "action", "reason"),
        ((i.assignment_id, i.worker_id, i.code, i.action, i.reason) for i in plan.items),
    )
    counts = ", ".join(f"{count} {action}" for action, count in sorted(plan.counts.items()))
    click.echo(f"{plan.total} submissions: {counts or 'none'}", err=True)


@mturk_group.command("review")
@click.argument("slug")
@click.option("--apply", is_flag=True, help="Approve (and reject) for real; without it, a plan.")
@click.option("--feedback", default="", help="Sent to workers with approvals.")
@click.option("--reject-invalid", is_flag=True, help="Also reject submissions with no such code.")
@click.option("--reject-feedback", help="Sent with rejections (required to reject).")
@click.option(
    "--rejection-category",
    help="Sent with rejections where the platform has categories (Prolific: BAD_CODE, ...).",
)
@click.option("--confirm-live", is_flag=True, help="Needed to review a live study for real.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the plan as CSV to this file.",
)
@service_options
@reports_errors
def review(
    slug: str,
    apply: bool,
    feedback: str,
    reject_invalid: bool,
    reject_feedback: str | None,
    rejection_category: str | None,
    confirm_live: bool,
    csv_path: Path | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Match study SLUG's submissions with its completion codes: approve, reject or flag."""
    with connect(url, api_key) as client:
        plan = client.review(slug)
        assert isinstance(plan, ReviewPlan)
        if csv_path is not None:
            csv_path.write_text(client.review_plan_csv(slug), encoding="utf-8")
        if not apply:
            _print_plan(plan, as_json)
            click.echo("A plan only: add --apply to carry it out.", err=True)
            return
        job = client.review(
            slug,
            dry_run=False,
            feedback=feedback,
            reject_invalid=reject_invalid,
            reject_feedback=reject_feedback,
            rejection_category=rejection_category,
            confirm="live" if confirm_live else None,
            wait=False,
        )
        assert isinstance(job, Job)
        job = follow(client, job, f"reviewing {slug}")
    _print_job(job, as_json)
    require_success(job)


@mturk_group.command("reconcile")
@click.argument("batch", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("survey", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code-column", required=True, help="The survey file's column with the code.")
@click.option("--worker-column", help="The survey file's column with the worker id, if any.")
@click.option(
    "--batch-code-column",
    default="Answer.surveycode",
    show_default=True,
    help="The batch file's column with the code workers typed.",
)
@service_options
@reports_errors
def reconcile(
    batch: Path,
    survey: Path,
    code_column: str,
    worker_column: str | None,
    batch_code_column: str,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Match an MTurk batch results CSV against a survey export (no MTurk call)."""
    with connect(url, api_key) as client:
        plan = client.reconcile_files(
            batch,
            survey,
            code_column=code_column,
            worker_column=worker_column,
            batch_code_column=batch_code_column,
        )
    _print_plan(plan, as_json)


@mturk_group.group("hits")
def hits_group() -> None:
    """A study's HITs: list, create (cost first), extend, expire."""


@hits_group.command("list")
@click.argument("slug")
@service_options
@reports_errors
def hits_list(slug: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Study SLUG's HITs with their counts on MTurk now."""
    with connect(url, api_key) as client:
        found = client.hits(slug)
    if as_json:
        print_json(found)
        return
    print_table(
        ("hit", "status", "reward", "assignments", "available", "pending", "completed", "expires"),
        (
            (h.hit_id, h.status, h.reward, h.assignments, h.available, h.pending, h.completed,
             h.expires_at)
            for h in found
        ),
    )  # fmt: skip


def _money(_ctx: Any, _param: Any, value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not an amount like 1.50") from None
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise click.BadParameter(f"{value!r}: a positive amount in dollars and cents")
    return amount


def _print_hit_plan(plan: HitPlan, as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    print_table(
        ("batch", "hit", "assignments", "rewards", "fees", "total", "worker url"),
        (
            (h.index, h.hit_id, h.assignments, h.rewards, h.fees, h.total, h.worker_url)
            for h in plan.hits
        ),
    )
    click.echo(
        f"total {plan.total} {plan.currency}"
        + (f" (micro-batches save {plan.saving})" if plan.saving else "")
        + (f"; balance {plan.balance}" if plan.balance is not None else "")
        + ("" if plan.sufficient in (None, True) else " — NOT ENOUGH"),
        err=True,
    )


@hits_group.command("create")
@click.argument("slug")
@click.option("--title", required=True)
@click.option("--description", required=True)
@click.option("--reward", required=True, callback=_money, help="Per assignment, e.g. 1.50.")
@click.option("--assignments", required=True, type=click.IntRange(1))
@click.option("--survey-url", help="The survey's https URL (default: the study's).")
@click.option("--keywords", default="")
@click.option("--micro-batches", is_flag=True, help="HITs of at most 9 assignments (20% fee).")
@click.option("--min-approval-rate", type=click.IntRange(0, 100))
@click.option("--locale", "locales", multiple=True, help="A country code, e.g. US (repeat).")
@click.option("--create", "create_now", is_flag=True, help="Create them; without it, a preview.")
@click.option("--confirm-live", is_flag=True, help="Needed to create HITs for a live study.")
@service_options
@reports_errors
def hits_create(
    slug: str,
    title: str,
    description: str,
    reward: Decimal,
    assignments: int,
    survey_url: str | None,
    keywords: str,
    micro_batches: bool,
    min_approval_rate: int | None,
    locales: tuple[str, ...],
    create_now: bool,
    confirm_live: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Preview what the HIT(s) for study SLUG cost, or create them with --create."""
    with connect(url, api_key) as client:
        plan = client.create_hit(
            slug,
            title=title,
            description=description,
            reward=reward,
            assignments=assignments,
            survey_url=survey_url,
            keywords=keywords,
            micro_batches=micro_batches,
            min_approval_rate=min_approval_rate,
            locales=locales or None,
            dry_run=not create_now,
            confirm="live" if confirm_live else None,
        )
    _print_hit_plan(plan, as_json)
    if not create_now:
        click.echo("A preview only: add --create to create the HITs.", err=True)


@hits_group.command("extend")
@click.argument("slug")
@click.argument("hit_id")
@click.option("--add", "add_assignments", type=click.IntRange(0), default=0)
@click.option("--expires-at", type=click.DateTime(), help="The new expiry (UTC), later than now.")
@click.option("--confirm-live", is_flag=True)
@service_options
@reports_errors
def hits_extend(
    slug: str,
    hit_id: str,
    add_assignments: int,
    expires_at: datetime | None,
    confirm_live: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Add assignments to a HIT of study SLUG and/or push its expiry later."""
    with connect(url, api_key) as client:
        hit = client.extend_hit(
            slug,
            hit_id,
            add_assignments=add_assignments,
            expires_at=expires_at.replace(tzinfo=UTC) if expires_at else None,
            confirm="live" if confirm_live else None,
        )
    if as_json:
        print_json(hit)
    else:
        click.echo(f"{hit.hit_id}: {hit.status}, expires {hit.expires_at}")


@hits_group.command("expire")
@click.argument("slug")
@click.argument("hit_id")
@service_options
@reports_errors
def hits_expire(
    slug: str, hit_id: str, url: str | None, api_key: str | None, as_json: bool
) -> None:
    """Expire a HIT of study SLUG now (workers already on it may still submit)."""
    with connect(url, api_key) as client:
        hit = client.expire_hit(slug, hit_id)
    if as_json:
        print_json(hit)
    else:
        click.echo(f"{hit.hit_id}: {hit.status}")
