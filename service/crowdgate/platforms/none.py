"""Studies without a platform: a lab's own link, a panel, a classroom."""

from __future__ import annotations

import re

from crowdgate.platforms.base import Platform


class NoPlatform(Platform):
    name = "none"
    worker_id_description = "1 to 128 printable characters"
    # Printable ASCII and any non-ASCII letter, but no control characters or spaces at
    # either end: ids a lab hands out come from spreadsheets and URLs.
    worker_id_pattern = re.compile(r"[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]{0,126}[^\x00-\x20\x7f])?")
