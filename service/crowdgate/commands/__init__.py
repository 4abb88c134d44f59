"""Researcher commands: they reach a crowdgate service over HTTP through crowdgate_client."""

from __future__ import annotations

import click

from crowdgate.commands.codes import codes_group
from crowdgate.commands.participants import participants_group
from crowdgate.commands.studies import studies_group

GROUPS: tuple[click.Group, ...] = (studies_group, participants_group, codes_group)

__all__ = ["GROUPS"]
