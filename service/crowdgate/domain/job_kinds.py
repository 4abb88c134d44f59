"""Every kind of job crowdgate runs: importing a kind's module registers its function.

The API and the job runner both import this module, so a worker process can run every
job a request may queue.
"""

from __future__ import annotations

from crowdgate.domain import bonuses, exclusion_sync, messages, review, sync

KINDS = (sync.KIND, review.KIND, exclusion_sync.KIND, bonuses.KIND, messages.KIND)
