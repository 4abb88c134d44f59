"""Prolific's endpoints the emulator answers: method, path, operation name and handler.

Operation names are what faults and counters are keyed by (``faults.fail_next("PayBonus",
"drop")``, ``faults.calls["TransitionSubmission"]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crowdgate.testing import prolific_bonus_operations as bonuses
from crowdgate.testing import prolific_group_operations as groups
from crowdgate.testing import prolific_submission_operations as submissions
from crowdgate.testing.prolific_requests import Request

if TYPE_CHECKING:
    from crowdgate.testing.prolific_emulator import ProlificEmulator

Handler = Callable[["ProlificEmulator", Request], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler
    #: Whether the operation changes the state (so it is saved after it).
    changes: bool


def _route(method: str, path: str, operation: str, handler: Handler, changes: bool) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(f"^/api/v1{regex}$"), operation, handler, changes)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/users/me/", "GetMe", submissions.get_me, False),
    _route("GET", "/workspaces/{id}/balance/", "GetBalance", submissions.get_balance, False),
    _route("GET", "/studies/{id}/", "GetStudy", submissions.get_study, False),
    _route(
        "GET",
        "/studies/{id}/submissions/",
        "ListSubmissions",
        submissions.list_study_submissions,
        False,
    ),
    _route(
        "GET",
        "/studies/{id}/submissions/counts/",
        "CountSubmissions",
        submissions.count_submissions,
        False,
    ),
    _route("GET", "/submissions/", "ListAllSubmissions", submissions.list_submissions, False),
    _route("POST", "/submissions/bulk-approve/", "BulkApprove", submissions.bulk_approve, True),
    _route("POST", "/submissions/bonus-payments/", "SetUpBonus", bonuses.set_up_bonus, True),
    _route("GET", "/submissions/{id}/", "GetSubmission", submissions.get_submission, False),
    _route(
        "POST",
        "/submissions/{id}/transition/",
        "TransitionSubmission",
        submissions.transition,
        True,
    ),
    _route("POST", "/bulk-bonus-payments/{id}/pay/", "PayBonus", bonuses.pay_bonus, True),
    _route("POST", "/messages/", "SendMessage", bonuses.send_message, True),
    _route("POST", "/messages/bulk/", "BulkMessage", bonuses.bulk_message, True),
    _route("POST", "/participant-groups/", "CreateGroup", groups.create_group, True),
    _route("GET", "/participant-groups/", "ListGroups", groups.list_groups, False),
    _route("GET", "/participant-groups/{id}/", "GetGroup", groups.get_group, False),
    _route("PATCH", "/participant-groups/{id}/", "UpdateGroup", groups.update_group, True),
    _route("DELETE", "/participant-groups/{id}/", "DeleteGroup", groups.delete_group, True),
    _route(
        "POST",
        "/participant-groups/{id}/participants/",
        "AddGroupParticipants",
        groups.add_participants,
        True,
    ),
    _route(
        "DELETE",
        "/participant-groups/{id}/participants/",
        "RemoveGroupParticipants",
        groups.remove_participants,
        True,
    ),
    _route(
        "GET",
        "/participant-groups/{id}/participants/",
        "ListGroupParticipants",
        groups.list_participants,
        False,
    ),
    _route("POST", "/hooks/secrets/", "CreateSecret", groups.create_secret, True),
    _route("GET", "/hooks/secrets/", "ListSecrets", groups.list_secrets, False),
    _route("POST", "/hooks/subscriptions/", "CreateSubscription", groups.create_subscription, True),
    _route("GET", "/hooks/subscriptions/", "ListSubscriptions", groups.list_subscriptions, False),
    _route(
        "POST",
        "/hooks/subscriptions/{id}/",
        "ConfirmSubscription",
        groups.confirm_subscription,
        True,
    ),
    _route(
        "DELETE",
        "/hooks/subscriptions/{id}/",
        "DeleteSubscription",
        groups.delete_subscription,
        True,
    ),
)
OPERATIONS: dict[str, Route] = {route.operation: route for route in ROUTES}


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """The route for ``method`` on ``path`` with its path arguments, and whether the
    path exists under another method (a 405 rather than a 404)."""
    other_method = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groupdict(), False
        other_method = True
    return None, {}, other_method
