"""The platform account's balance, read through the MTurk emulator over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from crowdgate.testing import MTurkEmulator

from tests.http import ApiClient, assert_error


@pytest.fixture
def app_config(app_config: dict[str, Any], mturk_env: str) -> dict[str, Any]:
    return {**app_config, "CROWDGATE_MTURK_ENDPOINT_URL": mturk_env}


@pytest.mark.parametrize("mode", ["sandbox", "live"])
def test_balance(admin: ApiClient, mturk_emulator: MTurkEmulator, mode: str) -> None:
    mturk_emulator.set_balance("123.45")
    response = admin.get("/account/balance", params={"platform": "mturk", "mode": mode})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "platform": "mturk",
        "mode": mode,
        "balance": "123.45",
        "currency": "USD",
    }
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 1


def test_balance_is_read_each_time(admin: ApiClient, mturk_emulator: MTurkEmulator) -> None:
    mturk_emulator.set_balance("7")
    first = admin.get("/account/balance", params={"platform": "mturk"})
    mturk_emulator.set_balance("0.5")
    second = admin.get("/account/balance", params={"platform": "mturk"})
    assert (first.json()["balance"], second.json()["balance"]) == ("7.00", "0.50")
    assert first.json()["mode"] == "sandbox"


def test_platform_without_balance(admin: ApiClient) -> None:
    response = admin.get("/account/balance", params={"platform": "none"})
    body = assert_error(response, 409, "not_supported_by_platform")
    assert "'none'" in body["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "platform"),
        ({"platform": "amazon"}, "platform"),
        ({"platform": "mturk", "mode": "production"}, "mode"),
    ],
)
def test_bad_arguments_name_the_field(
    admin: ApiClient, mturk_emulator: MTurkEmulator, params: dict[str, str], field: str
) -> None:
    assert_error(admin.get("/account/balance", params=params), 422, "validation_error", field)
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 0


def test_needs_an_admin_key(
    anonymous: ApiClient, make_study: Any, mturk_emulator: MTurkEmulator
) -> None:
    params = {"platform": "mturk"}
    assert_error(anonymous.get("/account/balance", params=params), 401, "missing_key")
    _, survey = make_study()
    assert_error(survey.get("/account/balance", params=params), 403, "admin_key_required")
    assert mturk_emulator.faults.calls["GetAccountBalance"] == 0


def test_platform_down_is_a_503(admin: ApiClient, mturk_emulator: MTurkEmulator) -> None:
    mturk_emulator.faults.configure(error_rate=1.0)
    response = admin.get("/account/balance", params={"platform": "mturk"})
    body = assert_error(response, 503, "platform_unavailable")
    assert body["platform"] == "mturk"
    assert mturk_emulator.faults.calls["GetAccountBalance"] >= 1
