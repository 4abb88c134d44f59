"""Studies without a platform: every platform call is refused, saying what to do instead."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from crowdgate.api.platform_access import client_for, platform_client
from crowdgate.models import Study
from crowdgate.platforms import (
    NotSupported,
    PlatformClient,
    PlatformError,
    PlatformSettings,
    PostingRequest,
    get_platform,
)
from crowdgate.platforms.base import PlatformClient as BaseClient
from flask import Flask

REQUEST = PostingRequest(
    title="A survey",
    description="About ten minutes",
    reward=Decimal("1.00"),
    assignments=5,
    lifetime_seconds=3600,
    assignment_duration_seconds=1800,
    auto_approval_delay_seconds=86400,
    external_url="https://survey.example.org/s",
)

#: Each PlatformClient method, called as a view would, and a word its refusal must use.
CALLS: dict[str, tuple[Callable[[PlatformClient], Any], str]] = {
    "list_submissions": (lambda c: c.list_submissions(["X"]), "participants"),
    "get_submission": (lambda c: c.get_submission("X"), "participants"),
    "approve": (lambda c: c.approve("X"), "status"),
    "approve_many": (lambda c: c.approve_many(["X"]), "status"),
    "reject": (lambda c: c.reject("X", "no code"), "status"),
    "balance": (lambda c: c.balance(), "payment system"),
    "send_bonus": (
        lambda c: c.send_bonus("w1", None, Decimal("1.00"), "thanks", token="t"),
        "your own system",
    ),
    "set_up_bonuses": (lambda c: c.set_up_bonuses("X", []), "your own system"),
    "pay_bonuses": (lambda c: c.pay_bonuses("B"), "your own system"),
    "list_bonuses": (lambda c: c.list_bonuses(posting_id="X"), "payment system"),
    "notify": (lambda c: c.notify(["w1"], "Hello", "Body"), "channel you recruited"),
    "create_qualification_type": (
        lambda c: c.create_qualification_type("n", "d"),
        "exclusion groups",
    ),
    "find_qualification_type": (lambda c: c.find_qualification_type("n"), "exclusion groups"),
    "grant_qualification": (lambda c: c.grant_qualification("Q", "w1"), "exclusion group"),
    "revoke_qualification": (lambda c: c.revoke_qualification("Q", "w1"), "exclusion group"),
    "list_qualified": (lambda c: c.list_qualified("Q"), "exclusion group"),
    "create_posting": (lambda c: c.create_posting(REQUEST), "survey link"),
    "get_posting": (lambda c: c.get_posting("X"), "record"),
    "extend_posting": (lambda c: c.extend_posting("X", add_assignments=1), "targets"),
    "expire_posting": (lambda c: c.expire_posting("X"), "Close the study"),
}


def test_every_client_method_is_covered() -> None:
    public = {
        name
        for name, value in vars(BaseClient).items()
        if callable(value) and not name.startswith("_")
    }
    assert public - {"close"} == set(CALLS)  # closing is no platform call: nothing to refuse


@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_call_is_refused_with_what_to_do_instead(method: str) -> None:
    client = get_platform("none").connect("sandbox", PlatformSettings())
    call, hint = CALLS[method]
    with pytest.raises(NotSupported) as caught:
        call(client)
    error = caught.value
    assert error.status == 409
    assert error.code == "not_supported_by_platform"
    assert "without a platform" in error.message
    assert "on any platform" in error.message
    assert hint in error.message
    assert error.extra == {"platform": "none"}


def test_fees_are_refused() -> None:
    platform = get_platform("none")
    with pytest.raises(NotSupported, match="no postings or fees"):
        platform.posting_fee(Decimal("1.00"), 5)
    with pytest.raises(NotSupported, match="Pay participants through your own system"):
        platform.bonus_fee(Decimal("1.00"))


def test_prolific_without_a_token_says_which_setting() -> None:
    with pytest.raises(PlatformError, match="CROWDGATE_PROLIFIC_TOKEN") as caught:
        get_platform("prolific").connect("live", PlatformSettings())
    assert caught.value.code == "platform_credentials_missing"


def test_views_get_one_client_per_app_and_mode(app: Flask) -> None:
    study = Study(platform="none", mode="sandbox")
    with app.app_context():
        first = platform_client(study)
        assert platform_client(study) is first
        assert platform_client(Study(platform="none", mode="live")) is not first
    other = Flask("other")
    assert client_for(other, "none", "sandbox") is not first
    with pytest.raises(NotSupported):
        first.balance()
