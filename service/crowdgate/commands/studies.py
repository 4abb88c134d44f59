"""`crowdgate studies create|list|show|update|rotate-key`: studies over HTTP, through the SDK."""

from __future__ import annotations

from typing import Any, TextIO, get_args

import click
from crowdgate_client import Condition, Study
from crowdgate_client.models import Mode, Platform

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.output import print_fields, print_json, print_json_lines, print_table

PLATFORMS: tuple[str, ...] = get_args(Platform)
MODES: tuple[str, ...] = get_args(Mode)


@click.group("studies")
def studies_group() -> None:
    """Create, list, show and update studies on a crowdgate service."""


def _condition(_ctx: Any, _param: Any, values: tuple[str, ...]) -> list[Condition] | None:
    if not values:
        return None
    conditions = []
    for value in values:
        name, sep, target = value.rpartition("=")
        if not sep or not name or not target.strip().isdigit():
            raise click.BadParameter(f"{value!r}: write NAME=TARGET, e.g. control=100")
        conditions.append(Condition(name=name, target=int(target)))
    return conditions


def study_options(command: Any) -> Any:
    options = (
        click.option("--title", help="A title for people (the slug is for URLs)."),
        click.option("--platform", type=click.Choice(PLATFORMS), help="Where workers come from."),
        click.option("--mode", type=click.Choice(MODES), help="The platform's sandbox or live."),
        click.option(
            "--condition",
            "conditions",
            multiple=True,
            callback=_condition,
            metavar="NAME=TARGET",
            help="A condition and how many participants it should get; repeat for each "
            "(on update, the list replaces the whole list).",
        ),
        click.option(
            "--lease-minutes", type=click.IntRange(1), help="How long a start holds a place."
        ),
        click.option(
            "--allow-repeats/--no-repeats",
            default=None,
            help="Whether a worker may take part again on a new assignment.",
        ),
        click.option(
            "--allowed-origin",
            "allowed_origins",
            multiple=True,
            metavar="ORIGIN",
            help="A web origin whose pages may call the survey endpoints (repeat for each).",
        ),
        click.option(
            "--hit-id",
            "hit_ids",
            multiple=True,
            metavar="HIT_ID",
            help="A HIT of the study, for sync (repeat for each; on update, replaces the list).",
        ),
        click.option(
            "--exclusion-group",
            "exclusion_groups",
            multiple=True,
            metavar="GROUP",
            help="An exclusion group whose members may not start (repeat for each; on "
            "update, replaces the list).",
        ),
        click.option(
            "--include-group",
            "include_groups",
            multiple=True,
            metavar="GROUP",
            help="A group a worker must belong to, to start (repeat for each; on update, "
            "replaces the list).",
        ),
        click.option(
            "--code-answer-field",
            help="The HIT's answer field holding the code workers type (default surveycode).",
        ),
        click.option(
            "--platform-completion-code",
            metavar="CODE",
            help="The completion code the platform expects (Prolific's study completion "
            "code); complete sends participants to the platform's page with it. '' clears it.",
        ),
        click.option(
            "--completion-redirect-url",
            metavar="URL",
            help="Where complete sends participants instead: an https URL with optional "
            "{completion_code}, {worker_id} and {study} placeholders. '' clears it.",
        ),
        click.option(
            "--platform-token-file",
            "platform_token",
            type=click.File("r"),
            metavar="PATH",
            help="A file holding the study's own Prolific API token ('-' reads stdin), so "
            "the token stays out of shell history and the process list; the service keeps "
            "it sealed and never shows it.",
        ),
        click.option(
            "--clear-platform-token",
            is_flag=True,
            default=None,
            help="Drop the study's own token: it uses the service's (CROWDGATE_PROLIFIC_TOKEN).",
        ),
        click.option(
            "--platform-workspace-id",
            metavar="ID",
            help="The Prolific workspace the study's balance, bonuses and groups belong to, "
            "instead of the service's (CROWDGATE_PROLIFIC_WORKSPACE_ID). '' clears it.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def _token(given: TextIO | None, clear: bool | None) -> str | None:
    """The token read from ``given`` ("" when ``clear``: the SDK sends that as null)."""
    if clear:
        if given is not None:
            raise click.UsageError(
                "Give --platform-token-file or --clear-platform-token, not both."
            )
        return ""
    if given is None:
        return None
    token = given.read().strip()
    if not token:
        name = "stdin" if given.name == "<stdin>" else given.name
        raise click.UsageError(f"--platform-token-file: {name} holds no token.")
    return token


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    values = dict(values)
    values["platform_token"] = _token(
        values.pop("platform_token", None), values.pop("clear_platform_token", None)
    )
    settings = {name: value for name, value in values.items() if value is not None}
    for many in ("allowed_origins", "hit_ids", "exclusion_groups", "include_groups"):
        if many in settings and not settings[many]:
            del settings[many]  # not given, rather than "none"
    return settings


def _show(study: Study, as_json: bool) -> None:
    if as_json:
        print_json(study)
        return
    conditions = ", ".join(f"{c.name} ({c.target})" for c in study.conditions) or "-"
    pairs: list[tuple[str, Any]] = [
        ("slug", study.slug),
        ("title", study.title),
        ("platform", study.platform),
        ("mode", study.mode),
        ("conditions", conditions),
        ("lease minutes", study.lease_minutes),
        ("repeats allowed", study.allow_repeats),
        ("allowed origins", ", ".join(study.allowed_origins) or "-"),
        ("HITs", ", ".join(study.hit_ids) or "-"),
        ("excluded by", ", ".join(study.exclusion_groups) or "-"),
        ("requires", ", ".join(study.include_groups) or "-"),
        ("recorded in", ", ".join(study.recorded_in) or "-"),
        ("platform completion code", study.platform_completion_code or "-"),
        ("completion redirect URL", study.completion_redirect_url or "-"),
        ("platform token", "set" if study.platform_token_set else "not set"),
        ("platform workspace", study.platform_workspace_id or "-"),
        ("created", study.created_at),
        ("updated", study.updated_at),
    ]
    survey_key = getattr(study, "survey_key", None)
    if survey_key:
        pairs.append(("survey key", survey_key))
    print_fields(pairs)


@studies_group.command("create")
@click.argument("slug")
@study_options
@service_options
@reports_errors
def create(slug: str, url: str | None, api_key: str | None, as_json: bool, **values: Any) -> None:
    """Create the study SLUG; prints its survey key, which is shown only this once."""
    with connect(url, api_key) as client:
        study = client.create_study(slug, **_settings(values))
    _show(study, as_json)
    if not as_json:
        click.echo("Keep the survey key now: it cannot be shown again (only rotated).", err=True)


@studies_group.command("list")
@service_options
@reports_errors
def list_(url: str | None, api_key: str | None, as_json: bool) -> None:
    """Every study on the service, oldest first."""
    with connect(url, api_key) as client:
        if as_json:
            print_json_lines(client.studies())
            return
        print_table(
            ("slug", "platform", "mode", "conditions", "created", "title"),
            (
                (
                    s.slug,
                    s.platform,
                    s.mode,
                    ", ".join(f"{c.name}:{c.target}" for c in s.conditions) or "-",
                    s.created_at,
                    s.title,
                )
                for s in client.studies()
            ),
        )


@studies_group.command("show")
@click.argument("slug")
@service_options
@reports_errors
def show(slug: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """One study's settings."""
    with connect(url, api_key) as client:
        _show(client.get_study(slug), as_json)


@studies_group.command("update")
@click.argument("slug")
@study_options
@service_options
@reports_errors
def update(slug: str, url: str | None, api_key: str | None, as_json: bool, **values: Any) -> None:
    """Change the settings given; the others stay as they are."""
    settings = _settings(values)
    if not settings:
        raise click.UsageError("Nothing to change: give at least one setting, e.g. --title.")
    with connect(url, api_key) as client:
        _show(client.update_study(slug, **settings), as_json)


@studies_group.command("rotate-key")
@click.argument("slug")
@service_options
@reports_errors
def rotate_key(slug: str, url: str | None, api_key: str | None, as_json: bool) -> None:
    """Replace the study's survey key; pages holding the old one stop working at once."""
    with connect(url, api_key) as client:
        rotated = client.rotate_survey_key(slug)
    if as_json:
        print_json(rotated)
    else:
        click.echo(rotated.survey_key)
