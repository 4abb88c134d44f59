"""Studies without a platform: a lab's own link, a panel, a classroom."""

from __future__ import annotations

import re

from crowdgate.platforms.base import Platform


class NoPlatform(Platform):
    name = "none"
    worker_id_description = "1 to 128 printable characters, no '/', no space at either end"
    worker_id_pattern = re.compile(r"[^/]{1,128}")

    def validate_worker_id(self, worker_id: str) -> str | None:
        # Ids a lab hands out come from spreadsheets and URLs: invisible characters
        # (Unicode controls, line separators, non-breaking spaces) would make two ids
        # that look the same differ. A '/' cannot travel in the URL path the id sits in.
        if (
            not self.worker_id_pattern.fullmatch(worker_id)
            or not worker_id.isprintable()
            or worker_id != worker_id.strip()
        ):
            return f"is not a valid {self.name} worker id: expected {self.worker_id_description}"
        return None
