"""Worker ids from an uploaded file: an MTurk batch results CSV (``WorkerId``), a
Prolific export (``Participant id``), or a plain list with one id per line."""

from __future__ import annotations

import csv
import io
import re

from crowdgate.domain.reconcile_files import read_table
from crowdgate.errors import ValidationFailed

#: Columns that name the worker, by platform export, in the order they are looked for
#: (spreadsheets and exports vary the case, so it is ignored).
ID_COLUMNS = ("WorkerId", "Participant id", "participant_id", "PROLIFIC_PID", "worker_id")
#: Header lines a plain list may start with.
PLAIN_HEADERS = {"workerid", "worker_id", "worker id", "participant id", "participant_id", "id"}
#: Any id some platform accepts: MTurk's and Prolific's are letters and digits, but a
#: lab's own ids (platform "none") only lack "/", so whatever a study records into a
#: group can also be listed, removed and uploaded. Control characters and surrounding
#: spaces are refused: they are never part of an id, only of a mangled copy of one.
WORKER_ID = re.compile(r"(?!\s)[^/\x00-\x1f\x7f]{1,128}(?<!\s)\Z")
#: A posting (HIT or Prolific study) id; each platform checks its own form when called.
POSTING_ID = re.compile(r"[A-Za-z0-9_-]{1,128}\Z")


def upload_name(filename: str | None) -> str:
    """The uploaded file's own name, as its members' source records it.

    Browsers may send a whole path; a ";" would read as two sources in the CSV export,
    and control characters have no place in a name shown back.
    """
    name = re.split(r"[/\\]", filename or "")[-1]
    name = re.sub(r"[;\x00-\x1f\x7f]", "_", name).strip()
    return name[:150] or "upload"


def worker_ids_from_file(data: bytes, field: str = "file") -> tuple[list[str], str]:
    """The distinct worker ids in the file, in file order, and where they were read."""
    header, rows = read_table(data, field)
    lowered = [name.lower() for name in header]
    column = next((name for name in ID_COLUMNS if name.lower() in lowered), None)
    # Each cell with its position among the file's non-blank rows (0 is the header).
    cells: list[tuple[str, int]]
    if column is not None:
        index = lowered.index(column.lower())
        cells = [
            (row[index].strip() if index < len(row) else "", n) for n, row in enumerate(rows, 1)
        ]
        where = f"column {header[index]!r}"
    elif all(len(row) == 1 for row in rows) and len(header) == 1:
        cells = [(header[0], 0), *((row[0].strip(), n) for n, row in enumerate(rows, 1))]
        if header[0].lower() in PLAIN_HEADERS:
            cells = cells[1:]
        where = "a plain list"
    else:
        shown = ", ".join(header[:20])
        raise ValidationFailed(
            f"The file has no WorkerId or Participant id column (its columns are: {shown}), "
            "and is not a plain list of one id per line.",
            code="column_not_found",
            fields={field: ["no WorkerId or Participant id column"]},
        )
    bad = [(cell, n) for cell, n in cells if cell and not WORKER_ID.fullmatch(cell)]
    if bad:
        lines = row_lines(data)
        named = [f"line {lines[n]}: {cell!r}" for cell, n in bad[:20]]
        raise ValidationFailed(
            f"The file holds {len(bad)} value(s) that are not worker ids, first {named[0]}.",
            code="invalid_worker_id",
            fields={field: named},
        )
    found = dict.fromkeys(cell for cell, _ in cells if cell)
    if not found:
        raise ValidationFailed(
            f"The file lists no worker ids in {where}.",
            code="invalid_upload",
            fields={field: ["lists no worker ids"]},
        )
    return list(found), where


def row_lines(data: bytes) -> list[int]:
    """The line each non-blank row of the file starts on, as read_table counts rows.

    read_table drops blank lines and joins quoted line breaks, so its row numbers are
    not the lines an editor shows; a refusal names the editor's. Only read when
    refusing, and only after read_table has accepted the file.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[int] = []
    ended = 0
    for row in reader:
        if any(cell.strip() for cell in row):
            lines.append(ended + 1)
        ended = reader.line_num
    return lines
