"""The SDK's and the CLI's bonus calls, unchanged, on a Prolific study: a bonus file as
Prolific exports it ("Participant id"), the plan in pounds with Prolific's fee, one
payment each, and a second run that pays nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import ProlificEmulator
from crowdgate_client import Client

from tests.http import ApiClient
from tests.test_cli_researcher import assert_one_line_error, run
from tests.test_prolific_bonuses import app_config, paid, paying_study  # noqa: F401

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

PEOPLE = [f"{0xD0000 + n:024x}" for n in range(3)]


@pytest.fixture
def env(server: Any, admin_key: str) -> dict[str, str]:
    return {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


def export(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    sheet = tmp_path / "prolific-bonuses.csv"
    sheet.write_text(
        "Participant id,amount,reason\n" + "".join(f"{p},{a},Top score\n" for p, a in rows)
    )
    return sheet


def test_the_cli_pays_a_prolific_export_once(
    env: dict[str, str],
    tmp_path: Path,
    admin: ApiClient,
    prolific_emulator: ProlificEmulator,
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE, slug="cli-prolific")
    sheet = export(tmp_path, [(PEOPLE[0], "0.50"), (PEOPLE[1], "1.00")])

    planned = run(
        "bonus", "pay", study.slug, "--csv", str(sheet), "--dry-run", env=env, cwd=tmp_path
    )
    assert planned.returncode == 0, planned.stderr
    assert "1.50 GBP" in planned.stdout, planned.stdout
    assert prolific_emulator.state.payments == []

    declined = run(
        "bonus", "pay", study.slug, "--csv", str(sheet), env=env, cwd=tmp_path, input="n\n"
    )
    assert_one_line_error(declined, 1, "nothing was paid")
    assert prolific_emulator.state.payments == []

    done = run("bonus", "pay", study.slug, "--csv", str(sheet), "--yes", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert sorted(p for p, _, _ in paid(prolific_emulator)) == PEOPLE[:2]

    again = run("bonus", "pay", study.slug, "--csv", str(sheet), "--yes", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Nothing new to pay" in again.stderr
    assert sum(paid(prolific_emulator).values()) == 2


def test_the_sdk_plans_pays_and_lists_a_prolific_ledger(
    sdk: Client, tmp_path: Path, admin: ApiClient, prolific_emulator: ProlificEmulator
) -> None:
    study = paying_study(admin, prolific_emulator, PEOPLE, slug="sdk-prolific")
    sheet = export(tmp_path, [(PEOPLE[0], "2.00"), (PEOPLE[2], "0.25")])

    plan = sdk.bonuses.plan(study.slug, csv=sheet)
    assert (plan.count, plan.total, plan.fee, plan.currency) == (
        2,
        Decimal("2.25"),
        Decimal("0.76"),  # 0.67 + 0.09: a third of each, rounded up to the penny
        "GBP",
    )
    job = sdk.bonuses.pay(study.slug, csv=sheet)
    assert (job.state, job.done, job.failed) == ("succeeded", 2, 0)
    rows = list(sdk.bonuses.ledger(study.slug))
    assert sorted((r.worker_id, r.amount, r.state) for r in rows) == [
        (PEOPLE[0], Decimal("2.00"), "sent"),
        (PEOPLE[2], Decimal("0.25"), "sent"),
    ]
    assert all(r.assignment_id == study.submission[r.worker_id] for r in rows)
    assert paid(prolific_emulator) == Counter(
        {
            (PEOPLE[0], study.submission[PEOPLE[0]], 200): 1,
            (PEOPLE[2], study.submission[PEOPLE[2]], 25): 1,
        }
    )
