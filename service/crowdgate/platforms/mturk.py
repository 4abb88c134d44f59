"""Amazon Mechanical Turk."""

from __future__ import annotations

import re

from crowdgate.platforms.base import Platform


class MTurk(Platform):
    name = "mturk"
    worker_id_description = "'A' followed by 1 to 63 capital letters or digits"
    worker_id_pattern = re.compile(r"A[A-Z0-9]{1,63}")
