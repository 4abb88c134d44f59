"""A participant's statuses and which of them hold a place in a condition."""

from __future__ import annotations

STARTED = "started"
COMPLETED = "completed"
SUBMITTED = "submitted"
APPROVED = "approved"
REJECTED = "rejected"
RETURNED = "returned"
ABANDONED = "abandoned"

ALL = (STARTED, COMPLETED, SUBMITTED, APPROVED, REJECTED, RETURNED, ABANDONED)
#: Finished the survey: they keep their place whatever the lease says.
FINISHED = (COMPLETED, SUBMITTED, APPROVED)
#: May still call start, state and complete.
ACTIVE = (STARTED, ABANDONED)
