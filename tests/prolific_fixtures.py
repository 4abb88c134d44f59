"""Fixtures for anything that talks to Prolific: crowdgate's emulator on a real socket.

- ``prolific_emulator``: a running ``crowdgate.testing.ProlificEmulator`` (free port,
  seed 0, balance £10,000.00, token ``PROLIFIC_TEST_TOKEN``), stopped after the test. Use:

  - ``.api_url``: the API base, ending in ``/api/v1/`` (``.url`` is the server root,
    with the control API under ``/_emulator/``); ``.token``; ``.workspace_id``;
  - ``.seed_study(places=N, participants=None or [...], statuses="AWAITING REVIEW" or
    [...], study_codes=None or "..." or [...], completion_code="C1ABCD",
    reward="1.50", currency="GBP", total_places=None)`` ->
    ``SeededStudy(study_id, submission_ids, participant_ids)``;
    ``.seed_participants([...])`` makes participants known (messages to unknown ones
    are refused); ``.submit(submission_id, study_code=...)`` finishes an ACTIVE
    submission; ``.set_status(submission_id, status)``;
  - ``.state``: the ``ProlificState`` (``.studies``, ``.submissions`` (each with
    ``status``, ``bonus_payments``, ``times_approved``, ``rejection_message``),
    ``.bulk_bonuses`` (each with ``times_paid``), ``.payments`` (one per participant
    per pay call), ``.messages``, ``.groups`` (``.members``), ``.subscriptions``,
    ``.balance`` in minor units); ``.payments_by_participant(study_id)`` counts the
    bonus payments each participant got (2 for a bonus meant once is a double payment);
  - ``.faults``: the MTurk emulator's ``Faults`` keyed by operation name
    (``GetMe``, ``GetBalance``, ``GetStudy``, ``ListSubmissions``, ``GetSubmission``,
    ``TransitionSubmission``, ``BulkApprove``, ``SetUpBonus``, ``PayBonus``,
    ``SendMessage``, ``BulkMessage``, ``CreateGroup``, ``ListGroups``, ``GetGroup``,
    ``UpdateGroup``, ``DeleteGroup``, ``AddGroupParticipants``,
    ``RemoveGroupParticipants``, ``ListGroupParticipants``, ``CreateSecret``,
    ``CreateSubscription``...): ``.configure(throttle_rate=, error_rate=, latency_ms=,
    commit_then_fail={"PayBonus": "500" or "drop"}, seed=)``,
    ``.fail_next("PayBonus", "throttle"|"error"|"500"|"drop", times=1, after=0)``,
    and the counters ``.calls[op]``, ``.committed[op]``, ``.injected[kind]``;
  - hooks: ``.send_hook(resource_id, status, target_url=None, ...)`` and
    ``.wait_for_hooks()``; ``.hooks.deliveries`` lists every delivery and its attempts;
  - ``.reset()``, ``.set_balance("12.00")`` (major units); ``.pay_delay = 2.0`` makes a
    paid bulk bonus show only that long after the 202, as on Prolific.
- ``prolific_env``: the emulator, with ``CROWDGATE_PROLIFIC_API_URL`` set to its
  ``api_url`` and ``CROWDGATE_PROLIFIC_TOKEN`` to its token.
- ``hook_secret``: a workspace hook secret made through the emulator's API.
- ``prolific_settings(emulator, max_attempts=4)``: the app settings that reach it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from crowdgate.testing import ProlificEmulator

PROLIFIC_TEST_TOKEN = "prolific-test-token"


@pytest.fixture
def prolific_emulator() -> Iterator[ProlificEmulator]:
    with ProlificEmulator(seed=0, token=PROLIFIC_TEST_TOKEN) as emulator:
        yield emulator


@pytest.fixture
def prolific_env(
    prolific_emulator: ProlificEmulator, monkeypatch: pytest.MonkeyPatch
) -> ProlificEmulator:
    monkeypatch.setenv("CROWDGATE_PROLIFIC_API_URL", prolific_emulator.api_url)
    monkeypatch.setenv("CROWDGATE_PROLIFIC_TOKEN", prolific_emulator.token)
    return prolific_emulator


def prolific_settings(emulator: ProlificEmulator, *, max_attempts: int = 4) -> dict[str, Any]:
    """The app settings that reach ``emulator``: its API root, token and workspace."""
    return {
        "CROWDGATE_PROLIFIC_API_URL": emulator.api_url,
        "CROWDGATE_PROLIFIC_TOKEN": emulator.token,
        "CROWDGATE_PROLIFIC_WORKSPACE_ID": emulator.workspace_id,
        "CROWDGATE_PROLIFIC_MAX_ATTEMPTS": max_attempts,
    }


@pytest.fixture
def hook_secret(prolific_emulator: ProlificEmulator) -> str:
    """The workspace's hook secret, made through the emulator's API as on Prolific."""
    response = requests.post(
        f"{prolific_emulator.api_url}hooks/secrets/",
        json={"workspace_id": prolific_emulator.workspace_id},
        headers={"Authorization": f"Token {prolific_emulator.token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["value"])
