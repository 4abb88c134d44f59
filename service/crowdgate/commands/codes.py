"""`crowdgate codes verify`: check completion codes one at a time or a whole results file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from crowdgate_client import Client, VerifyResult

from crowdgate.commands.connection import connect, reports_errors, service_options
from crowdgate.commands.output import print_json_lines, print_table, progress_bar
from crowdgate.domain.reconcile_files import read_table, skip_qualtrics_headers
from crowdgate.errors import ValidationFailed

#: Column names tried in order when --code-column / --worker-column are not given:
#: MTurk batch results, Qualtrics exports with embedded data, Prolific, crowdgate.
CODE_COLUMNS = ("Answer.surveycode", "surveycode", "completion_code", "code")
WORKER_COLUMNS = ("WorkerId", "workerId", "worker_id", "Participant id", "PROLIFIC_PID")


@click.group("codes")
def codes_group() -> None:
    """Completion codes."""


def _pick(header: list[str], given: str | None, candidates: tuple[str, ...], what: str) -> str:
    if given is not None:
        if given not in header:
            raise click.BadParameter(f"the file has no column {given!r}", param_hint=what)
        return given
    for name in candidates:
        if name in header:
            return name
    raise click.BadParameter(
        f"none of {', '.join(candidates)} is a column of the file; name one", param_hint=what
    )


def _rows(path: Path, code_column: str | None, worker_column: str | None) -> list[tuple[str, str]]:
    """(worker id, code) of each response in an MTurk, Qualtrics or Prolific CSV."""
    try:
        header, rows = read_table(path.read_bytes(), "--file")
    except ValidationFailed as exc:
        raise click.BadParameter(exc.message, param_hint="--file") from None
    code_at = header.index(_pick(header, code_column, CODE_COLUMNS, "--code-column"))
    worker_at = header.index(_pick(header, worker_column, WORKER_COLUMNS, "--worker-column"))
    return [(_cell(row, worker_at), _cell(row, code_at)) for row in skip_qualtrics_headers(rows)]


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _verify_all(
    client: Client, slug: str, pairs: list[tuple[str, str]]
) -> Iterator[tuple[str, str, VerifyResult | None]]:
    with progress_bar(f"verifying {len(pairs)} codes", total=len(pairs)) as advance:
        for worker_id, code in pairs:
            result = client.verify_code(slug, code, worker_id=worker_id or None) if code else None
            advance()
            yield worker_id, code, result


@codes_group.command("verify")
@click.argument("slug")
@click.argument("code", required=False)
@click.option("--worker-id", help="Check that CODE is this worker's own.")
@click.option(
    "--file",
    "results_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A results CSV (MTurk batch results, Qualtrics or Prolific export): check every row.",
)
@click.option(
    "--code-column", help="The file's column with the codes (found by name if not given)."
)
@click.option(
    "--worker-column", help="The file's column with worker ids (found by name if not given)."
)
@service_options
@reports_errors
def verify(
    slug: str,
    code: str | None,
    worker_id: str | None,
    results_file: Path | None,
    code_column: str | None,
    worker_column: str | None,
    url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    """Check CODE, or every code in --file, against study SLUG's completion codes.

    Exits 0 when every code checked is valid, 3 when some are not (so scripts can tell).
    """
    if (code is None) == (results_file is None):
        raise click.UsageError("Give either a CODE or --file with a results CSV.")
    if results_file is not None:
        if worker_id is not None:
            raise click.UsageError("--worker-id is for one CODE; a file names its workers.")
        pairs = _rows(results_file, code_column, worker_column)
    else:
        assert code is not None
        pairs = [(worker_id or "", code)]
    with connect(url, api_key) as client:
        results = list(_verify_all(client, slug, pairs))
    if as_json:
        print_json_lines(
            {"worker_id": worker or None, "code": code, "result": result}
            for worker, code, result in results
        )
    else:
        print_table(
            ("worker", "code", "valid", "reason", "code's worker", "status"),
            (
                (
                    worker or None,
                    code or None,
                    result.valid if result else False,
                    (result.reason if result else "no code given"),
                    result.code_worker_id or (result.worker_id if result and result.valid else None)
                    if result
                    else None,
                    result.status if result else None,
                )
                for worker, code, result in results
            ),
        )
    valid = sum(1 for _, _, result in results if result is not None and result.valid)
    click.echo(f"{valid} of {len(results)} valid", err=True)
    if valid != len(results):
        raise SystemExit(3)
