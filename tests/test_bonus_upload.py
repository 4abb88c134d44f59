"""Bonuses from an uploaded CSV file: the same plan and payment as the same items sent as
JSON, and each bad line, refused item or unusable file named for the researcher to fix."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import pytest

from tests.http import assert_error
from tests.test_bonuses import emulator_ledger, ledger, start, workers

MAX_BODY = 16 * 1024


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {
        **app_config,
        "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env,
        "CROWDGATE_MAX_BODY_BYTES": MAX_BODY,
    }


def bonus_study(
    make_study: Any, mturk_emulator: Any, names: list[str], **fields: Any
) -> dict[str, Any]:
    """A sandbox MTurk study whose workers each started with a seeded assignment."""
    study, page = make_study(platform="mturk", mode="sandbox", **fields)
    hit = mturk_emulator.seed_hit(assignments=len(names), workers=names)
    assignment = dict(zip(names, hit.assignment_ids, strict=True))
    for name in names:
        start(page, study["slug"], name, assignment[name])
    return {"slug": study["slug"], "assignment": assignment}


@pytest.fixture
def paying(make_study: Any, mturk_emulator: Any) -> Any:
    return functools.partial(bonus_study, make_study, mturk_emulator)


def upload(admin: Any, slug: str, text: str | bytes, name: str = "bonuses.csv", **form: str) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return admin.post(
        f"/studies/{slug}/bonuses", data=form, files={"file": (name, data, "text/csv")}
    )


def without_lines(plan: dict[str, Any]) -> dict[str, Any]:
    return {
        **plan,
        "items": [{k: v for k, v in item.items() if k != "line"} for item in plan["items"]],
        "refused": [{k: v for k, v in item.items() if k != "line"} for item in plan["refused"]],
    }


def test_a_file_plans_and_pays_as_the_same_items_sent_as_json(admin, paying, mturk_emulator):
    names = workers(3)
    study = paying(names)
    slug, assignment = study["slug"], study["assignment"]
    # MTurk's and Prolific's spellings of the columns, a blank line and a blank reason.
    sheet = (
        "WorkerId,AssignmentId,Amount,Reason,key\n"
        f"{names[0]},{assignment[names[0]]},0.50,,\n"
        "\n"
        f"{names[1]},,1.25,Top score,\n"
        f"A1NOTHERE00001,,0.10,,\n"
        f"{names[2]},,abc,,\n"
    )
    items = [
        {"worker_id": names[0], "assignment_id": assignment[names[0]], "amount": "0.50"},
        {"worker_id": names[1], "amount": "1.25", "reason": "Top score"},
        {"worker_id": "A1NOTHERE00001", "amount": "0.10"},
        {"worker_id": names[2], "amount": "abc"},
    ]

    planned = upload(admin, slug, sheet, reason="Thanks")
    assert planned.status_code == 200, planned.text
    plan = planned.json()
    as_json = admin.post(f"/studies/{slug}/bonuses", json={"items": items, "reason": "Thanks"})
    assert as_json.status_code == 200, as_json.text
    assert without_lines(plan) == as_json.json()
    assert [(r["line"], r["code"]) for r in plan["refused"]] == [
        (5, "not_a_participant"),
        (6, "invalid_amount"),
    ]
    assert [(i["line"], i["worker_id"], i["reason"]) for i in plan["items"]] == [
        (2, names[0], "Thanks"),
        (4, names[1], "Top score"),
    ]
    assert "line" not in as_json.json()["refused"][0]

    refused = upload(admin, slug, sheet, reason="Thanks", dry_run="false")
    body = assert_error(refused, 422, "bonus_items_refused", "file")
    assert body["fields"]["file"] == ["line 5: not_a_participant", "line 6: invalid_amount"]
    assert [r["line"] for r in body["refused"]] == [5, 6]
    assert mturk_emulator.state.bonuses == {}

    good = "\n".join(sheet.splitlines()[:4]) + "\n"
    started = upload(admin, slug, good, reason="Thanks", dry_run="false")
    assert started.status_code == 202, started.text
    job = started.json()["job"]
    assert (job["kind"], job["state"], job["total"], job["done"]) == ("bonus", "succeeded", 2, 2)
    assert emulator_ledger(mturk_emulator) == {
        (names[0], assignment[names[0]], Decimal("0.50")): 1,
        (names[1], assignment[names[1]], Decimal("1.25")): 1,
    }
    # The same items as JSON are the same bonuses: nothing more is paid.
    again = admin.post(
        f"/studies/{slug}/bonuses", json={"items": items[:2], "reason": "Thanks", "dry_run": False}
    )
    assert again.status_code == 202, again.text
    assert len(mturk_emulator.state.bonuses) == 2
    assert sorted(row["state"] for row in ledger(admin, slug)) == ["sent", "sent"]


def test_bad_lines_are_named_and_nothing_is_planned(admin, paying):
    slug = paying(workers(1))["slug"]
    long_id = "A" * 200
    sheet = (
        "Participant id,amount,reason\n"
        "A1BONUS000000,0.50,Thanks\n"
        '"A1BONUS000000\n",0.20,"two\nlines"\n'
        ",0.30,No worker\n"
        f"{long_id},0.40,Too long\n"
        "A1BONUS000000,,No amount\n"
    )
    body = assert_error(upload(admin, slug, sheet), 422, "invalid_upload", "file")
    problems = body["fields"]["file"]
    # Quoted line breaks (the second row spans lines 3 to 5) count as an editor counts.
    assert [p.split(":")[0] for p in problems] == ["line 6", "line 7", "line 8"], problems
    assert "worker_id" in problems[0] and "worker_id" in problems[1]
    assert "amount" in problems[2]
    assert body["message"] == (
        "The file cannot be read as bonuses: line 6: worker_id: Missing data for required "
        "field. (and 2 more, listed in fields)"
    )


@pytest.mark.parametrize(
    ("text", "error", "problem"),
    [
        ("", "invalid_upload", "is empty"),
        ("\n  \n", "invalid_upload", "is empty"),
        ("worker_id,amount\n", "invalid_upload", "lists no bonuses"),
        ("worker_id,reason\nA1BONUS000000,Thanks\n", "column_not_found", "no amount column"),
        ("WorkerId,HITId\nA1BONUS000000,H1\n", "column_not_found", "no amount column"),
        ("amount\n0.50\n", "column_not_found", "no worker_id column"),
        (b"worker_id,amount\n\x00\n", "invalid_upload", "NUL"),
        (b"\xff\xfe\x00w\x00", "invalid_upload", "NUL"),
    ],
)
def test_unusable_files_are_clear_errors(admin, paying, text, error, problem):
    slug = paying(workers(1))["slug"]
    body = assert_error(upload(admin, slug, text), 422, error, "file")
    assert any(problem in p for p in body["fields"]["file"]), body


def test_form_fields_and_request_shapes(admin, paying, mturk_emulator):
    slug = paying(workers(1))["slug"]
    sheet = "worker_id,amount\nA1BONUS000000,0.50\n"

    no_reason = upload(admin, slug, sheet)
    assert [r["code"] for r in no_reason.json()["refused"]] == ["no_reason"]
    assert_error(upload(admin, slug, sheet, dry_run="maybe"), 422, "validation_error", "dry_run")
    unknown = upload(admin, slug, sheet, from_state="score")
    assert_error(unknown, 422, "validation_error", "from_state")
    renamed = admin.post(
        f"/studies/{slug}/bonuses", files={"sheet": ("b.csv", sheet.encode(), "text/csv")}
    )
    assert_error(renamed, 422, "validation_error", "sheet")
    missing = admin.post(f"/studies/{slug}/bonuses", files={}, data={"reason": "x"})
    # requests sends a form without files as urlencoded: not a body this endpoint reads.
    assert_error(missing, 415, "unsupported_media_type")
    # A multipart form with its fields but no file.
    only_form = admin.post(f"/studies/{slug}/bonuses", files={"reason": (None, "Thanks")})
    assert_error(only_form, 422, "validation_error", "file")
    assert mturk_emulator.state.bonuses == {}


def test_a_file_over_the_body_limit_is_413_naming_the_file(admin, paying, mturk_emulator):
    slug = paying(workers(1))["slug"]
    rows = "".join(f"A1BONUS000000,0.01,row {n}\n" for n in range(MAX_BODY // 20))
    big = upload(admin, slug, "worker_id,amount,reason\n" + rows, dry_run="false")
    body = assert_error(big, 413, "payload_too_large", "file")
    assert str(MAX_BODY) in body["message"]
    assert mturk_emulator.state.bonuses == {}
