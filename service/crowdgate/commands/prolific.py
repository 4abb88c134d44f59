"""`crowdgate prolific balance|sync|review`: the commands a Prolific study needs, the
same as `crowdgate mturk`'s (a study's platform decides what they call)."""

from __future__ import annotations

import click

from crowdgate.commands.mturk import balance_command, review, sync


@click.group("prolific")
def prolific_group() -> None:
    """Prolific: balance, sync, review."""


prolific_group.add_command(balance_command("prolific", "Prolific workspace's (or account's)"))
prolific_group.add_command(sync)
prolific_group.add_command(review)
