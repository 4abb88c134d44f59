"""Prolific."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from crowdgate.platforms.base import Platform, PlatformClient, PlatformSettings
from crowdgate.platforms.failures import NotSupported

#: Prolific's page that takes a finished participant's completion code.
COMPLETION_PAGE = "https://app.prolific.com/submissions/complete"


class Prolific(Platform):
    name = "prolific"
    worker_id_description = "24 hexadecimal characters (a Prolific participant id)"
    worker_id_pattern = re.compile(r"[0-9a-fA-F]{24}")

    def completion_url(self, completion_code: str) -> str | None:
        return f"{COMPLETION_PAGE}?{urlencode({'cc': completion_code})}"

    def connect(self, mode: str, settings: PlatformSettings) -> PlatformClient:
        raise NotSupported(
            "crowdgate cannot call Prolific yet: the Prolific adapter is not built. Studies on "
            "'prolific' keep their record, codes and survey endpoints; approve, pay and message "
            "participants in Prolific's own web app for now.",
            extra={"platform": "prolific"},
        )
