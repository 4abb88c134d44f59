"""`crowdgate exclusions ...`: exclusion groups, their members and their qualification sync.

A group is the lab's participation record: workers from HITs, lists, files and studies
that outlive any one study. The member commands live in ``exclusion_members``. Syncing
is a dry run unless `--apply` is given, and revoking, which emails each worker on
MTurk, happens only with `--revoke`.
"""

from __future__ import annotations

from typing import Any, cast, get_args

import click
from crowdgate_client import (
    ExclusionGroup,
    GroupBinding,
    GroupSyncPlan,
    Job,
    RecordWhen,
    ValidationError,
)
from crowdgate_client.models import Mode

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.exclusion_members import MEMBER_COMMANDS
from crowdgate.commands.job_progress import follow
from crowdgate.commands.output import (
    print_fields,
    print_json,
    print_json_lines,
    print_table,
)

MODES: tuple[str, ...] = get_args(Mode)
RECORD_WHEN: tuple[str, ...] = get_args(RecordWhen)


@click.group("exclusions")
def exclusions_group() -> None:
    """Exclusion groups: the participation record, its members and its qualification."""


def _binding_rows(binding: GroupBinding | None) -> list[tuple[str, Any]]:
    # Each platform's own word: MTurk binds a qualification, Prolific a participant group.
    if binding is not None and binding.platform == "prolific":
        return [
            ("participant group", binding.prolific_group_id),
            ("participant group name", binding.prolific_group_name or "-"),
        ]
    return [
        ("qualification", binding.qualification_type_id if binding else "-"),
        ("qualification name", binding.qualification_name if binding else "-"),
    ]


def _show(group: ExclusionGroup, as_json: bool) -> None:
    if as_json:
        print_json(group)
        return
    binding = group.binding
    print_fields(
        [
            ("name", group.name),
            ("description", group.description or "-"),
            ("members", group.members),
            ("records studies", ", ".join(group.record_studies) or "-"),
            ("records when", group.record_when),
            ("excludes from", ", ".join(group.excluding_studies) or "-"),
            ("required by", ", ".join(group.including_studies) or "-"),
            ("platform", binding.platform if binding else "-"),
            ("mode", binding.mode if binding else "-"),
            *_binding_rows(binding),
            ("latest sync job", group.sync_job_id),
            ("created", group.created_at),
            ("updated", group.updated_at),
        ]
    )


@exclusions_group.command("list")
@service_options
@reports_errors
def list_(url: str | None, api_key: str | None, as_json: bool) -> None:
    """Every exclusion group, oldest first (JSON: one per line)."""
    with connect(url, api_key) as client:
        if as_json:
            print_json_lines(client.exclusion_groups())
            return
        print_table(
            ("name", "members", "records", "excludes from", "platform", "bound to", "mode"),
            (
                (
                    g.name,
                    g.members,
                    ", ".join(g.record_studies) or "-",
                    ", ".join(g.excluding_studies) or "-",
                    g.binding.platform if g.binding else None,
                    g.binding.qualification_type_id if g.binding else None,
                    g.binding.mode if g.binding else None,
                )
                for g in client.exclusion_groups()
            ),
        )


@exclusions_group.command("show")
@click.argument("name")
@service_options
@reports_errors
def show(name: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """One group: its rule, binding, member count and the studies using it."""
    with connect(url, api_key) as client:
        _show(client.get_exclusion_group(name), as_json)


@exclusions_group.command("put")
@click.argument("name")
@click.option("--description", help="What membership means, for people.")
@click.option(
    "--record-study",
    "record_studies",
    multiple=True,
    metavar="SLUG",
    help="A study whose participants join by themselves (repeat; replaces the list).",
)
@click.option("--no-record-studies", is_flag=True, help="Stop recording every study.")
@click.option(
    "--record-when",
    type=click.Choice(RECORD_WHEN),
    help="When a recorded study's participant joins: at start, at completion, or only "
    "once sync finds their submission.",
)
@click.option("--qualification-id", help="Bind to this MTurk qualification type id.")
@click.option(
    "--qualification-name",
    help="Bind to the MTurk qualification type of this name, created if there is none.",
)
@click.option(
    "--prolific-group-id", help="Bind to this Prolific participant group id (24 hex digits)."
)
@click.option(
    "--prolific-group-name",
    help="Bind to the workspace's Prolific participant group of this name, created if "
    "there is none.",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    help="Where the qualification lives (Prolific has no sandbox: either reaches it).",
)
@click.option("--unbind", is_flag=True, help="Drop the group's binding, on either platform.")
@service_options
@reports_errors
def put(
    name: str,
    description: str | None,
    record_studies: tuple[str, ...],
    no_record_studies: bool,
    record_when: str | None,
    qualification_id: str | None,
    qualification_name: str | None,
    prolific_group_id: str | None,
    prolific_group_name: str | None,
    mode: str | None,
    unbind: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Create the group NAME, or change what is given; bind it to an MTurk qualification
    or a Prolific participant group."""
    if record_studies and no_record_studies:
        raise click.UsageError("Give --record-study or --no-record-studies, not both.")
    given = [
        option
        for option, value in (
            ("--qualification-id", qualification_id),
            ("--qualification-name", qualification_name),
            ("--prolific-group-id", prolific_group_id),
            ("--prolific-group-name", prolific_group_name),
        )
        if value is not None
    ]
    if unbind and given:
        raise click.UsageError(f"--unbind drops the binding: give no {given[0]} with it.")
    if len(given) > 1:
        raise click.UsageError(f"A group has one binding: give one of {', '.join(given)}.")
    with connect(url, api_key) as client:
        group = client.put_exclusion_group(
            name,
            description=description,
            record_studies=[] if no_record_studies else (record_studies or None),
            record_when=cast("RecordWhen | None", record_when),
            mturk_qualification_type_id=qualification_id,
            mturk_qualification_name=qualification_name,
            prolific_group_id=prolific_group_id,
            prolific_group_name=prolific_group_name,
            mode=cast("Mode | None", mode),
            unbind=unbind,
        )
    _show(group, as_json)
    if not as_json:
        click.echo(f"crowdgate: {'created' if group.created else 'updated'} {name}", err=True)


@exclusions_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask first.")
@service_options
@reports_errors
def delete(name: str, yes: bool, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Delete the group NAME and its members (refused while a study uses it)."""
    if not yes:
        click.confirm(f"Delete exclusion group {name!r} and all its members?", abort=True)
    with connect(url, api_key) as client:
        deleted = client.delete_exclusion_group(name)
    if as_json:
        print_json(deleted)
    else:
        click.echo(f"crowdgate: deleted {name}", err=True)


def _print_plan(plan: GroupSyncPlan, as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    print_fields(
        [
            ("group", plan.group),
            ("qualification", plan.qualification_type_id),
            ("platform", plan.platform),
            ("mode", plan.mode),
            ("members", plan.members),
            ("holders now", plan.holders),
            ("already granted", plan.already_granted),
            ("to grant", plan.to_grant),
            ("to revoke", plan.to_revoke),
            ("holders left alone", plan.left_alone),
        ]
    )


def _print_job(job: Job, as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    pairs: list[tuple[str, Any]] = [
        ("job", job.job_id),
        ("state", job.state),
        ("resumed", bool(job.extra.get("resumed"))),
        *((label, job.counts.get(label, 0)) for label in ("granted", "revoked", "failed")),
    ]
    if job.counts.get("settled_after_restart"):
        pairs.append(("found done after a restart", job.counts["settled_after_restart"]))
    if job.error:
        pairs.append(("error", job.error))
    print_fields(pairs)


@exclusions_group.command("sync")
@click.argument("name")
@click.option("--apply", is_flag=True, help="Grant (and revoke) for real; without it, counts.")
@click.option(
    "--revoke",
    is_flag=True,
    help="Also revoke holders who are not members: MTurk emails each of them.",
)
@click.option("--reason", help="What MTurk's email tells a revoked worker.")
@click.option("--confirm-live", is_flag=True, help="Needed to sync a live qualification.")
@service_options
@reports_errors
def sync(
    name: str,
    apply: bool,
    revoke: bool,
    reason: str | None,
    confirm_live: bool,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Make the group's qualification match the group: grant it, without notifying, to
    members lacking it. An interrupted sync resumes when run again."""
    live = f"{name} is bound to a live qualification: add --confirm-live to sync it."
    with connect(url, api_key) as client:
        if apply and not confirm_live:
            # Refused before the dry run, which already asks the platform.
            binding = client.get_exclusion_group(name).binding
            if binding is not None and binding.mode == "live":
                raise click.ClickException(live)
        plan = client.sync_exclusion_group(name, revoke=revoke)
        assert isinstance(plan, GroupSyncPlan)
        if not apply or not as_json:
            _print_plan(plan, as_json)
        if not apply:
            click.echo(
                "A dry run only: add --apply to carry it out"
                + ("" if revoke or not plan.left_alone else " (and --revoke to revoke)")
                + ".",
                err=True,
            )
            return
        try:
            job = client.sync_exclusion_group(
                name,
                dry_run=False,
                revoke=revoke,
                reason=reason,
                confirm="live" if confirm_live else None,
                wait=False,
            )
        except ValidationError as exc:
            if exc.code != "confirmation_required":
                raise
            raise click.ClickException(live) from None
        assert isinstance(job, Job)
        job = follow(client, job, f"syncing {name}")
    _print_job(job, as_json)
    if job.state != "succeeded":
        raise click.ClickException(
            f"sync job {job.job_id} {job.state}: {job.error or 'see above'}. Run the same "
            "command again to resume it; nobody is granted twice."
        )


for _command in MEMBER_COMMANDS:
    exclusions_group.add_command(_command)
