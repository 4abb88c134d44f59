"""Researcher commands: they reach a crowdgate service over HTTP through crowdgate_client."""

from __future__ import annotations

import click

from crowdgate.commands.bonuses import bonus_group
from crowdgate.commands.codes import codes_group
from crowdgate.commands.exclusions import exclusions_group
from crowdgate.commands.jobs import jobs_group
from crowdgate.commands.messages import message_group
from crowdgate.commands.mturk import mturk_group
from crowdgate.commands.mturk_emulator import mturk_emulator_command
from crowdgate.commands.participants import participants_group
from crowdgate.commands.prolific import prolific_group
from crowdgate.commands.prolific_emulator import prolific_emulator_command
from crowdgate.commands.qualifications import qualifications_group
from crowdgate.commands.studies import studies_group

GROUPS: tuple[click.Command, ...] = (
    studies_group,
    participants_group,
    codes_group,
    bonus_group,
    message_group,
    jobs_group,
    mturk_group,
    prolific_group,
    qualifications_group,
    exclusions_group,
    mturk_emulator_command,
    prolific_emulator_command,
)

__all__ = ["GROUPS"]
