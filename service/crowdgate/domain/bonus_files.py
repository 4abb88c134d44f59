"""Bonus items from an uploaded CSV file: a spreadsheet, or an MTurk batch results file or
a Prolific export with an amount column added.

Each row becomes the same item a JSON request gives (only the cells it fills), with the
line an editor shows it on, so that a refusal can name the line to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from crowdgate.domain.reconcile_files import read_table
from crowdgate.domain.worker_lists import row_lines
from crowdgate.errors import ValidationFailed

#: Header names accepted for each item field, as spreadsheets and the platforms' exports
#: spell them; looked for in this order, ignoring case and surrounding spaces.
COLUMNS: dict[str, tuple[str, ...]] = {
    "worker_id": ("worker_id", "WorkerId", "Participant id", "participant_id", "worker"),
    "amount": ("amount", "bonus", "BonusAmount"),
    "reason": ("reason",),
    "assignment_id": ("assignment_id", "AssignmentId"),
    "key": ("key",),
}
REQUIRED = ("worker_id", "amount")


@dataclass(frozen=True)
class FileRow:
    """One bonus row of the file: its line and the item's fields it gives."""

    line: int
    item: dict[str, str]


def bonus_rows(data: bytes, field: str = "file") -> list[FileRow]:
    """The file's bonus rows, in file order; blank rows are skipped."""
    header, rows = read_table(data, field)
    lowered = [name.lower() for name in header]
    found: dict[str, int] = {}
    for name, spellings in COLUMNS.items():
        at = next((lowered.index(s.lower()) for s in spellings if s.lower() in lowered), None)
        if at is not None:
            found[name] = at
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        shown = ", ".join(header[:40])
        wanted = " and ".join(f"{name} ({', '.join(COLUMNS[name])})" for name in missing)
        raise ValidationFailed(
            f"The file has no {wanted} column; its first line must name the columns "
            f"(it names: {shown}).",
            code="column_not_found",
            fields={field: [f"no {name} column" for name in missing]},
        )
    if not rows:
        raise ValidationFailed(
            "The file lists no bonuses: it has the column names but no rows under them.",
            code="invalid_upload",
            fields={field: ["lists no bonuses"]},
        )
    lines = row_lines(data)
    return [
        FileRow(
            line=lines[n],
            item={
                name: row[at].strip()
                for name, at in found.items()
                if at < len(row) and row[at].strip()
            },
        )
        for n, row in enumerate(rows, 1)
    ]
