"""Prolific's researcher API on a local socket, for tests and offline rehearsals.

A real HTTP server speaking Prolific's JSON REST protocol under ``/api/v1/`` (see
``prolific_http``), with state (``prolific_state``), the endpoints' checks
(``prolific_*_operations``), injected faults (the MTurk emulator's ``Faults``, keyed by
operation names such as ``PayBonus``), hooks sent to subscribed URLs
(``prolific_hooks``) and fast seeding (``prolific_seeding``)::

    with ProlificEmulator(seed=1, token="t") as emulator:
        study = emulator.seed_study(places=20)
        requests.get(f"{emulator.api_url}studies/{study.study_id}/submissions/",
                     headers={"Authorization": "Token t"})

As on Prolific, paying a bulk bonus is NOT idempotent: each pay call pays every line
again (``state.payments`` keeps each payment, ``bulk.times_paid`` counts the calls that
paid). Approving pays the reward from the balance; transitions repeated are ignored.

Not emulated: studies' life cycle (create, publish, pause), places filling up,
auto-approval, returns, the asynchrony of bulk approve (it takes effect before the
answer; a bulk bonus payment does too unless ``pay_delay`` is set), subscription
confirmation (subscriptions are live at once) and disabling subscriptions after
persistent delivery failures. Hooks go out one at a time from one thread, so a slow
target delays the others.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

from crowdgate.testing.emulator_server import ServedEmulator
from crowdgate.testing.mturk_faults import FaultSettings
from crowdgate.testing.prolific_hooks import Delivery, HookSender, hook_payload
from crowdgate.testing.prolific_http import ProlificHandler
from crowdgate.testing.prolific_operations import OPERATIONS
from crowdgate.testing.prolific_requests import Request
from crowdgate.testing.prolific_seeding import (
    SeededStudy,
    check_participants,
    make_id,
    minor_units,
    seed_from_json,
    seed_study,
)
from crowdgate.testing.prolific_state import ProlificState, Submission

DEFAULT_TOKEN = "prolific-emulator-token"
SUBMISSION_EVENT = "submission.status.change"


class ProlificEmulator(ServedEmulator):
    """The emulator: ``start()`` it (or use it as a context manager), then call ``api_url``."""

    handler = ProlificHandler
    thread_name = "prolific-emulator"
    state: ProlificState

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        balance: str | Decimal = "10000.00",
        currency: str = "GBP",
        state_path: str | Path | None = None,
        throttle_rate: float = 0.0,
        error_rate: float = 0.0,
        latency_ms: int = 0,
        commit_then_fail: Mapping[str, str] | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        structured_errors: bool = False,
        pay_delay: float = 0.0,
    ) -> None:
        if not token:
            raise ValueError("the token must not be empty")
        self.token = token
        #: Whether a 400's ``detail`` is ``{"field": ["message"]}`` rather than one line of
        #: text: Prolific's CLI types it as either, so a client must read both.
        self.structured_errors = structured_errors
        #: Seconds between a bulk bonus pay call (answered 202 at once) and the payment
        #: showing in ``bonus_payments`` and the balance; 0 pays before answering.
        self.pay_delay = pay_delay
        self.seed = seed
        self.clock = clock
        faults = FaultSettings(throttle_rate, error_rate, latency_ms, dict(commit_then_fail or {}))
        super().__init__(host, port, state_path, faults, seed)
        if self.state_path is not None and self.state_path.exists():
            self.state = ProlificState.load(self.state_path)
        else:
            self.state = self._fresh_state(Decimal(minor_units(balance, "balance")), currency)
        self.hooks = HookSender(clock=clock)

    def _fresh_state(self, balance: Decimal, currency: str) -> ProlificState:
        return ProlificState(
            user_id=make_id(self.seed, "user"),
            workspace_id=make_id(self.seed, "workspace"),
            currency_code=currency,
            balance=balance,
        )

    # -- running -----------------------------------------------------------------------

    def start(self) -> Self:
        super().start()
        self.hooks.start()
        return self

    def stop(self) -> None:
        super().stop()
        self.hooks.stop()

    @property
    def api_url(self) -> str:
        """The API base as Prolific spells it, ending in ``/api/v1/``."""
        return f"{self.url}/api/v1/"

    @property
    def workspace_id(self) -> str:
        return self.state.workspace_id

    # -- state -------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def new_id(self) -> str:
        with self.state.lock:
            counter = self.state.next_id
            self.state.next_id += 1
        return make_id(self.seed, counter)

    def later(self, delay: float, change: Callable[[], None]) -> None:
        """Make ``change`` to the state ``delay`` seconds from now, from another thread."""

        def run() -> None:
            with self.state.lock:
                change()
            self._save()

        timer = threading.Timer(delay, run)
        timer.daemon = True
        timer.start()

    def payments_by_participant(self, study_id: str | None = None) -> Counter[str]:
        """Bonus payments made per participant: above 1 for a bonus paid once is a
        double payment."""
        with self.state.lock:
            return Counter(
                p.participant_id
                for p in self.state.payments
                if study_id is None or p.study_id == study_id
            )

    def call(self, operation: str, request: Request) -> tuple[int, Any]:
        """Run one operation against the state (no faults), saving it if it changed."""
        route = OPERATIONS[operation]
        with self.state.lock:
            result = route.handler(self, request)
            self.faults.record_commit(operation)
        if route.changes:
            self._save()
        return result

    def reset(self, balance: str | Decimal | None = None) -> None:
        """Forget everything (and clear faults and counters), keeping the balance unless given."""
        with self.state.lock:
            kept = (
                Decimal(minor_units(balance, "balance"))
                if balance is not None
                else self.state.balance
            )
            fresh = self._fresh_state(kept, self.state.currency_code)
            for name in ("studies", "submissions", "participants", "bulk_bonuses", "groups"):
                setattr(self.state, name, getattr(fresh, name))
            self.state.payments = []
            self.state.messages = []
            self.state.secrets = {}
            self.state.subscriptions = {}
            self.state.balance = kept
            self.state.next_id = 1
            self.state.next_seq = 1
        self.faults.reset()
        self.hooks.forget()
        self._save()

    def set_balance(self, balance: str | Decimal) -> None:
        """Set the balance, in major units (``"12.00"``)."""
        with self.state.lock:
            self.state.balance = Decimal(minor_units(balance, "balance"))
        self._save()

    def summary(self) -> dict[str, Any]:
        with self.state.lock:
            return {
                "workspace_id": self.state.workspace_id,
                "currency_code": self.state.currency_code,
                "balance": f"{self.state.balance / 100:.2f}",
                "studies": len(self.state.studies),
                "submissions": len(self.state.submissions),
                "participants": len(self.state.participants),
                "bulk_bonuses": len(self.state.bulk_bonuses),
                "bonus_payments": len(self.state.payments),
                "messages": len(self.state.messages),
                "groups": sum(1 for g in self.state.groups.values() if not g.is_deleted),
                "subscriptions": len(self.state.subscriptions),
            }

    # -- seeding -----------------------------------------------------------------------

    def seed_study(self, **options: Any) -> SeededStudy:
        """Add a study with submissions; see ``prolific_seeding.seed_study``."""
        seeded = seed_study(self, **options)
        self._save()
        return seeded

    def seed_participants(self, participant_ids: Sequence[str]) -> None:
        """Make participants known (messages to unknown ones are refused)."""
        check_participants(participant_ids)
        with self.state.lock:
            self.state.participants.update(participant_ids)
        self._save()

    def submit(self, submission_id: str, study_code: str | None = None) -> None:
        """The participant finishes: the submission awaits review with ``study_code``
        (the study's first completion code unless given), and hooks fire."""
        with self.state.lock:
            submission = self.state.submissions.get(submission_id)
            if submission is None:
                raise ValueError(f"no submission {submission_id}")
            if submission.status not in ("ACTIVE", "RESERVED"):
                raise ValueError(f"submission {submission_id} is {submission.status}")
            study = self.state.studies[submission.study_id]
            submission.status = "AWAITING REVIEW"
            submission.completed_at = self.now()
            submission.study_code = study_code or study.completion_codes[0]["code"]
            self.status_changed(submission)
        self._save()

    def set_status(self, submission_id: str, status: str) -> None:
        """Move a submission to any status (a return, a time-out...), and fire hooks."""
        with self.state.lock:
            submission = self.state.submissions.get(submission_id)
            if submission is None:
                raise ValueError(f"no submission {submission_id}")
            submission.status = status
            self.status_changed(submission)
        self._save()

    def seed_from_json(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_emulator/seed/``; see ``prolific_seeding.seed_from_json``."""
        return seed_from_json(self, body)

    # -- hooks -------------------------------------------------------------------------

    def status_changed(self, submission: Submission) -> None:
        """Queue ``submission.status.change`` to every subscriber (call under the lock)."""
        payload = hook_payload(self.state, submission.id, SUBMISSION_EVENT)
        self._publish(SUBMISSION_EVENT, payload)

    def _publish(self, event_type: str, payload: dict[str, Any]) -> list[Delivery]:
        sent = []
        for subscription in sorted(self.state.subscriptions.values(), key=lambda s: s.seq):
            if subscription.is_enabled and subscription.event_type == event_type:
                secret = self.state.secrets.get(subscription.workspace_id)
                sent.append(
                    self.hooks.send(subscription.target_url, payload, secret[1] if secret else None)
                )
        return sent

    def send_hook(
        self,
        resource_id: str,
        status: str | None = None,
        *,
        participant_id: str | None = None,
        event_type: str = SUBMISSION_EVENT,
        target_url: str | None = None,
        payload: dict[str, Any] | None = None,
        secret: str | None = None,
    ) -> list[Delivery]:
        """Send one event as Prolific would: to ``target_url`` (signed with ``secret``,
        or the workspace's) or else to every subscriber of ``event_type``."""
        with self.state.lock:
            if payload is None:
                payload = hook_payload(self.state, resource_id, event_type, status, participant_id)
            if target_url is None:
                return self._publish(event_type, payload)
            if secret is None:
                found = self.state.secrets.get(self.state.workspace_id)
                secret = found[1] if found else None
            return [self.hooks.send(target_url, payload, secret)]

    def wait_for_hooks(self, timeout: float = 10.0) -> bool:
        """Wait until every hook sent so far was delivered or given up on."""
        return self.hooks.wait(timeout)


__all__ = ["DEFAULT_TOKEN", "ProlificEmulator", "SeededStudy"]
