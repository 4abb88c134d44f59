"""What every platform adapter provides; the rest of crowdgate speaks only to this."""

from __future__ import annotations

import re
from typing import ClassVar


class Platform:
    """A crowd-work platform, as crowdgate sees it."""

    name: ClassVar[str]
    #: What a worker id looks like on this platform, in words for error messages.
    worker_id_description: ClassVar[str]
    worker_id_pattern: ClassVar[re.Pattern[str]]

    def validate_worker_id(self, worker_id: str) -> str | None:
        """Return a problem with ``worker_id`` in words, or None when it fits."""
        if not self.worker_id_pattern.fullmatch(worker_id):
            return f"is not a valid {self.name} worker id: expected {self.worker_id_description}"
        return None
