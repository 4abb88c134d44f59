"""A review plan: per submission, approve, reject or flag for a person, and why.

Shared by the review of a synced study and by the reconciliation of uploaded files,
so both answer in the same shape and the same CSV.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace

from crowdgate.domain.completion_codes import normalise_code
from crowdgate.domain.spreadsheet_cells import safe_cell

APPROVE = "approve"
REJECT = "reject"
FLAG = "flag"
ACTIONS = (APPROVE, REJECT, FLAG)

#: Why an item got its action; the words a person reads in the plan.
REASONS = {
    "code_valid": "the code is valid and was issued to this worker",
    "study_code_valid": "the study's shared completion code, and crowdgate recorded this "
    "worker's completion",
    "completion_not_recorded": "the study's shared completion code, but crowdgate has no "
    "completion recorded for this worker",
    "no_such_code": "no participant was given this code",
    "code_of_another_worker": "the code was issued to another worker",
    "code_used_twice": "the same code was typed in more than one assignment",
    "code_missing": "no code was typed in",
    "already_reviewed": "the assignment was approved or rejected already",
    "repeat_participation": "the worker took part before and the study allows no repeats",
    "worker_not_in_survey": "the code is in the survey but with another worker id",
}


@dataclass(frozen=True)
class PlanItem:
    assignment_id: str
    worker_id: str
    hit_id: str | None
    code: str | None
    action: str
    reason: str
    detail: str = ""


def flag_codes_used_twice(items: Sequence[PlanItem], shared: str = "") -> list[PlanItem]:
    """Approvals sharing one code go to a person: only one of them can have earned it.

    Judged after the other rules, so a worker who typed someone else's code does not
    make the code's owner look like a double user. ``shared`` (normalised) is a code
    every participant is given, so its many uses are expected.
    """
    uses = Counter(normalise_code(i.code or "") for i in items if i.action == APPROVE)
    return [
        replace(
            item, action=FLAG, reason="code_used_twice", detail=f"approvable in {n} assignments"
        )
        if item.action == APPROVE
        and (code := normalise_code(item.code or "")) != shared
        and (n := uses[code]) > 1
        else item
        for item in items
    ]


def plan_body(items: Sequence[PlanItem]) -> dict[str, object]:
    counts = Counter(item.action for item in items)
    return {
        "items": [asdict(item) for item in items],
        "counts": {action: counts.get(action, 0) for action in ACTIONS},
        "reasons": dict(sorted(Counter(item.reason for item in items).items())),
        "total": len(items),
    }


CSV_COLUMNS = ("assignment_id", "worker_id", "hit_id", "code", "action", "reason", "detail")


def plan_csv(items: Iterable[PlanItem]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow([safe_cell(getattr(item, name)) for name in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
