"""Prolific."""

from __future__ import annotations

import re

from crowdgate.platforms.base import Platform


class Prolific(Platform):
    name = "prolific"
    worker_id_description = "24 hexadecimal characters (a Prolific participant id)"
    worker_id_pattern = re.compile(r"[0-9a-fA-F]{24}")
