"""The researcher's VLOOKUP, done properly: an MTurk batch results CSV against a survey export.

No platform is called. The survey's code column and worker id column are the caller's
choice (Qualtrics names them after the survey's fields); Qualtrics' extra header rows
(question text, ImportId JSON) are recognised and skipped; codes are compared after
trimming spaces, ignoring case and dashes, as crowdgate compares its own codes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from crowdgate.domain.completion_codes import normalise_code
from crowdgate.domain.review_plans import (
    APPROVE,
    FLAG,
    REJECT,
    PlanItem,
    flag_codes_used_twice,
)
from crowdgate.errors import ValidationFailed

BATCH_WORKER = "WorkerId"
BATCH_ASSIGNMENT = "AssignmentId"
BATCH_HIT = "HITId"
BATCH_STATUS = "AssignmentStatus"
DEFAULT_BATCH_CODE = "Answer.surveycode"
#: Spreadsheets pad cells; more than this many rows is not a batch anyone uploads.
MAX_ROWS = 200_000


@dataclass(frozen=True)
class SurveyRow:
    code: str
    worker_id: str


def read_table(data: bytes, field: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a CSV upload; a problem names the upload's field."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            # Excel on Windows saves "CSV" as cp1252 unless told otherwise.
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise _bad(field, "is not UTF-8 or Windows-1252 text") from None
    if "\x00" in text:
        raise _bad(field, "is not a CSV file (it contains NUL bytes)")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise _bad(field, f"is not a readable CSV file: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise _bad(field, "is empty")
    if len(rows) > MAX_ROWS:
        raise _bad(field, f"has more than {MAX_ROWS} rows")
    header = [cell.strip() for cell in rows[0]]
    return header, rows[1:]


def _bad(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {problem}.", code="invalid_upload", fields={field: [problem]})


def _column(header: list[str], name: str, field: str, upload: str) -> int:
    try:
        return header.index(name.strip())
    except ValueError:
        shown = ", ".join(header[:40])
        raise ValidationFailed(
            f"{upload} has no column {name!r}; its columns are: {shown}.",
            code="column_not_found",
            fields={field: [f"no column {name!r} in {upload}"]},
        ) from None


def _is_import_id_row(row: list[str]) -> bool:
    return any(cell.startswith('{"ImportId"') for cell in row)


def skip_qualtrics_headers(rows: list[list[str]]) -> list[list[str]]:
    """Drop the question-text and ImportId rows Qualtrics puts under the column names."""
    if len(rows) >= 2 and _is_import_id_row(rows[1]):
        return rows[2:]
    if rows and _is_import_id_row(rows[0]):
        return rows[1:]
    return rows


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def read_survey(
    data: bytes, *, code_column: str, worker_column: str | None
) -> dict[str, list[SurveyRow]]:
    """The survey's rows by normalised code."""
    header, rows = read_table(data, "survey")
    code_at = _column(header, code_column, "code_column", "the survey file")
    worker_at = (
        _column(header, worker_column, "worker_column", "the survey file")
        if (worker_column)
        else None
    )
    by_code: dict[str, list[SurveyRow]] = {}
    for row in skip_qualtrics_headers(rows):
        code = normalise_code(_cell(row, code_at))
        if not code:
            continue
        worker = _cell(row, worker_at) if worker_at is not None else ""
        by_code.setdefault(code, []).append(SurveyRow(code=code, worker_id=worker))
    return by_code


def reconcile(
    batch: bytes,
    survey: bytes,
    *,
    code_column: str,
    worker_column: str | None = None,
    batch_code_column: str = DEFAULT_BATCH_CODE,
) -> list[PlanItem]:
    """One plan item per assignment of the batch file, judged against the survey file."""
    by_code = read_survey(survey, code_column=code_column, worker_column=worker_column)
    header, rows = read_table(batch, "batch")
    worker_at = _column(header, BATCH_WORKER, "batch", "the batch file")
    assignment_at = _column(header, BATCH_ASSIGNMENT, "batch", "the batch file")
    code_at = _column(header, batch_code_column, "batch_code_column", "the batch file")
    hit_at = header.index(BATCH_HIT) if BATCH_HIT in header else None
    status_at = header.index(BATCH_STATUS) if BATCH_STATUS in header else None
    codes_of_worker: dict[str, set[str]] = {}
    for survey_rows in by_code.values():
        for answer in survey_rows:
            if answer.worker_id:
                codes_of_worker.setdefault(answer.worker_id, set()).add(answer.code)
    plan = []
    for row in rows:
        worker = _cell(row, worker_at)
        raw = row[code_at] if code_at < len(row) else ""
        code = normalise_code(raw)
        status = _cell(row, status_at) if status_at is not None else "Submitted"
        action, reason, detail = _decide(worker, code, status, by_code, codes_of_worker)
        plan.append(
            PlanItem(
                assignment_id=_cell(row, assignment_at),
                worker_id=worker,
                hit_id=_cell(row, hit_at) if hit_at is not None else None,
                code=raw.strip() or None,
                action=action,
                reason=reason,
                detail=detail,
            )
        )
    return flag_codes_used_twice(plan)


def _decide(
    worker: str,
    code: str,
    status: str,
    by_code: dict[str, list[SurveyRow]],
    codes_of_worker: dict[str, set[str]],
) -> tuple[str, str, str]:
    if status and status.lower() not in ("submitted", ""):
        return FLAG, "already_reviewed", f"{status} in the batch file"
    if not code:
        return FLAG, "code_missing", ""
    rows = by_code.get(code)
    if not rows:
        return REJECT, "no_such_code", "not in the survey file"
    survey_workers = {row.worker_id for row in rows if row.worker_id}
    if survey_workers and worker not in survey_workers:
        return FLAG, "code_of_another_worker", "survey row of " + ", ".join(sorted(survey_workers))
    own = codes_of_worker.get(worker, set())
    if own and code not in own:
        return FLAG, "code_of_another_worker", "the worker's own survey code is another one"
    if len(rows) > 1 and not survey_workers:
        return FLAG, "code_used_twice", f"in {len(rows)} survey responses"
    return APPROVE, "code_valid", ""
