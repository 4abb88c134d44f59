"""Uploaded MTurk batch results against a survey export: the VLOOKUP, over HTTP, no platform."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.http import assert_error

FIXTURES = Path(__file__).parent / "fixtures"  # copies of the shared format examples

BATCH_HEADER = ["HITId", "AssignmentId", "WorkerId", "AssignmentStatus", "Answer.surveycode"]


def batch_csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BATCH_HEADER)
    for assignment, worker, status, code in rows:
        writer.writerow(["HIT1", assignment, worker, status, code])
    return out.getvalue().encode()


def post(admin: Any, batch: bytes, survey: bytes, **form: str) -> Any:
    files = {"batch": ("batch.csv", batch, "text/csv"), "survey": ("survey.csv", survey)}
    return admin.post("/reconcile", files=files, data=form)


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """No database matters here beyond the admin key: SQLite is enough."""
    from crowdgate.db import Database
    from crowdgate.schema_version import upgrade

    url = f"sqlite:///{tmp_path / 'crowdgate.db'}"
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    return url


def test_the_format_fixtures_and_their_traps(admin):
    response = post(
        admin,
        (FIXTURES / "mturk_batch_results.csv").read_bytes(),
        (FIXTURES / "qualtrics_export.csv").read_bytes(),
        code_column="Random ID",
        worker_column="workerId",
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    by_worker = {i["worker_id"]: (i["action"], i["reason"]) for i in plan["items"]}
    assert by_worker["AKR9LRRWU4R47E"] == ("approve", "code_valid")
    # Typed someone else's code (their own survey row has another one).
    assert by_worker["A3ALAUKU32Y2VA"] == ("flag", "code_of_another_worker")
    # The code's rightful owner is not punished for it.
    assert by_worker["AMUPUGVNXBRUPX"] == ("approve", "code_valid")
    # Invented a code and never finished the survey.
    assert by_worker["AEBR88Q5WGR93T"] == ("reject", "no_such_code")
    assert by_worker["ATUNVWN2FCPS76"] == ("flag", "code_missing")
    # A valid code with stray spaces.
    assert by_worker["AKF87ZKF4J9SX3"] == ("approve", "code_valid")
    assert plan["counts"] == {"approve": 17, "reject": 1, "flag": 2}
    assert plan["total"] == len(plan["items"]) == 20


def test_qualtrics_header_rows_are_skipped_not_read_as_answers(admin):
    # The question-text row says "Random ID" in the code column: it must not match.
    survey = (FIXTURES / "qualtrics_export.csv").read_bytes()
    batch = batch_csv([("AS1", "A1WORKER0001", "Submitted", "Random ID")])
    plan = post(admin, batch, survey, code_column="Random ID").json()
    assert [(i["action"], i["reason"]) for i in plan["items"]] == [("reject", "no_such_code")]


def test_chosen_columns_trimmed_codes_duplicates_and_reviewed_rows(admin):
    survey = b"code,mturk_id\r\n ABC123 ,A1WORKER0001\r\nZZZ999,\r\nDUP1,\r\n"
    batch = batch_csv(
        [
            ("AS1", "A1WORKER0001", "Submitted", "abc123  "),
            ("AS2", "A1WORKER0002", "Submitted", "ZZZ999"),
            ("AS3", "A1WORKER0003", "Submitted", "zzz999"),
            ("AS4", "A1WORKER0004", "Approved", "DUP1"),
            ("AS5", "A1WORKER0005", "Submitted", "ABC123"),
        ]
    )
    plan = post(admin, batch, survey, code_column="code", worker_column="mturk_id").json()
    got = {i["assignment_id"]: (i["action"], i["reason"]) for i in plan["items"]}
    assert got == {
        "AS1": ("approve", "code_valid"),
        "AS2": ("flag", "code_used_twice"),
        "AS3": ("flag", "code_used_twice"),
        "AS4": ("flag", "already_reviewed"),
        "AS5": ("flag", "code_of_another_worker"),
    }


def test_batch_code_column_can_be_chosen_and_csv_is_defused(admin):
    survey = b"code\nOK1\n"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["AssignmentId", "WorkerId", "Answer.code"])
    writer.writerow(["AS1", "A1WORKER0001", "OK1"])
    writer.writerow(["AS2", "=cmd|' /C calc'!A0", "=1+1"])
    batch = out.getvalue().encode()
    response = post(
        admin, batch, survey, code_column="code", batch_code_column="Answer.code", format="csv"
    )
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["action"] == "approve"
    assert rows[1]["worker_id"].startswith("'=") and rows[1]["code"].startswith("'=")
    accept = admin.post(
        "/reconcile",
        files={"batch": ("b.csv", batch), "survey": ("s.csv", survey)},
        data={"code_column": "code", "batch_code_column": "Answer.code"},
        headers={"Accept": "text/csv"},
    )
    assert accept.text == response.text


def test_bad_uploads_name_the_field(admin):
    survey = b"code\nOK1\n"
    batch = batch_csv([("AS1", "A1WORKER0001", "Submitted", "OK1")])
    assert_error(post(admin, batch, survey), 422, "validation_error", "code_column")
    assert_error(
        post(admin, batch, survey, code_column="Random ID"), 422, "column_not_found", "code_column"
    )
    assert_error(
        post(admin, batch, survey, code_column="code", worker_column="workerId"),
        422,
        "column_not_found",
        "worker_column",
    )
    assert_error(
        post(admin, batch, survey, code_column="code", batch_code_column="Answer.x"),
        422,
        "column_not_found",
        "batch_code_column",
    )
    assert_error(post(admin, b"", survey, code_column="code"), 422, "invalid_upload", "batch")
    assert_error(
        post(admin, b"\x00\x01binary", survey, code_column="code"), 422, "invalid_upload", "batch"
    )
    assert_error(
        post(admin, b"a,b\n1,2\n", survey, code_column="code"), 422, "column_not_found", "batch"
    )
    only_batch = admin.post(
        "/reconcile", files={"batch": ("b.csv", batch)}, data={"code_column": "code"}
    )
    assert_error(only_batch, 422, "validation_error", "survey")
    as_json = admin.post("/reconcile", json={"code_column": "code"})
    assert_error(as_json, 415, "unsupported_media_type")


def test_reconcile_needs_an_admin_key(anonymous):
    response = anonymous.post(
        "/reconcile", files={"batch": ("b.csv", b"x"), "survey": ("s.csv", b"y")}
    )
    assert response.status_code == 401
