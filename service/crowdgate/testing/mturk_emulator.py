"""An MTurk requester endpoint on a local socket, for tests and offline rehearsals.

MTurk closed on 2026-09-30, so crowdgate's MTurk adapter is exercised against this:
a real HTTP server speaking MTurk's JSON protocol (see ``mturk_http``), with state
(``mturk_state``), the operations' checks (``mturk_*_operations``), injected faults
(``mturk_faults``) and fast seeding (``mturk_seeding``). Point boto3 at ``url`` with
any credentials::

    with MTurkEmulator(seed=1) as emulator:
        hit = emulator.seed_hit(assignments=150, answers={"surveycode": "X"})
        client = boto3.client("mturk", endpoint_url=emulator.url, region_name="us-east-1")

Duplicate ``UniqueRequestToken``s within 24 hours are refused as MTurk refuses them:
CreateHIT with TurkErrorCode ``AWS.MechanicalTurk.HitAlreadyExists`` (the message
names the HIT id), SendBonus and CreateAdditionalAssignmentsForHIT with
``AWS.MechanicalTurk.DuplicateRequest`` and a message saying the token "has already
been processed". Either way nothing is paid or created twice.

Not emulated: auto-approval after AutoApprovalDelay, assignments in progress
(Accepted), worker blocks, qualification requests and tests, review policies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from crowdgate.testing.emulator_server import ServedEmulator
from crowdgate.testing.mturk_account import Account
from crowdgate.testing.mturk_faults import FaultSettings
from crowdgate.testing.mturk_http import EmulatorHandler
from crowdgate.testing.mturk_operations import OPERATIONS
from crowdgate.testing.mturk_requests import Params
from crowdgate.testing.mturk_seeding import SeededHIT, seed_hit, seed_workers
from crowdgate.testing.mturk_state import EmulatorState


class MTurkEmulator(ServedEmulator):
    """The emulator: ``start()`` it (or use it as a context manager), then call ``url``."""

    handler = EmulatorHandler
    thread_name = "mturk-emulator"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        balance: str | Decimal = "10000.00",
        state_path: str | Path | None = None,
        throttle_rate: float = 0.0,
        error_rate: float = 0.0,
        latency_ms: int = 0,
        commit_then_fail: Mapping[str, str] | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        faults = FaultSettings(throttle_rate, error_rate, latency_ms, dict(commit_then_fail or {}))
        super().__init__(host, port, state_path, faults, seed)
        if self.state_path is not None and self.state_path.exists():
            state = EmulatorState.load(self.state_path)
        else:
            state = EmulatorState(balance=Decimal(balance))
        self.account = Account(state, clock=clock, seed=seed)

    # -- state -------------------------------------------------------------------------

    @property
    def state(self) -> EmulatorState:
        return self.account.state

    def call(self, operation: str, params: Params) -> dict[str, Any]:
        """Run one operation against the state (no faults), saving it if it changed."""
        handler, changes = OPERATIONS[operation]
        with self.state.lock:
            result = handler(self.account, params)
            self.faults.record_commit(operation)
        if changes:
            self._save()
        return result

    def reset(self, balance: str | Decimal | None = None) -> None:
        """Forget everything (and clear faults and counters), keeping the balance unless given."""
        with self.state.lock:
            fresh = EmulatorState(
                balance=Decimal(balance) if balance is not None else self.state.balance
            )
            self.account.state = fresh
        self.faults.reset()
        self._save()

    def set_balance(self, balance: str | Decimal) -> None:
        with self.state.lock:
            self.state.balance = Decimal(balance)
        self._save()

    def summary(self) -> dict[str, Any]:
        with self.state.lock:
            return {
                "balance": f"{self.state.balance:.2f}",
                "hits": len(self.state.hits),
                "assignments": len(self.state.assignments),
                "workers": len(self.state.workers),
                "qualification_types": len(self.state.qualification_types),
                "grants": sum(1 for g in self.state.grants.values() if g.status == "Granted"),
                "bonuses": len(self.state.bonuses),
                "messages": len(self.state.messages),
            }

    # -- seeding -----------------------------------------------------------------------

    def seed_hit(self, **options: Any) -> SeededHIT:
        """Add a HIT with submitted assignments; see ``mturk_seeding.seed_hit``."""
        seeded = seed_hit(self.account, **options)
        self._save()
        return seeded

    def seed_hits(self, count: int, **options: Any) -> list[SeededHIT]:
        """Add ``count`` HITs alike, saving the state once at the end."""
        seeded = [seed_hit(self.account, **options) for _ in range(count)]
        self._save()
        return seeded

    def seed_workers(self, worker_ids: Sequence[str]) -> None:
        seed_workers(self.account, worker_ids)
        self._save()

    def fail_notify(self, worker_ids: Sequence[str], code: str = "SoftFailure") -> None:
        """Make NotifyWorkers fail for these workers with ``code`` ("SoftFailure" or
        "HardFailure") in its NotifyWorkersFailureStatuses, the other workers unaffected."""
        if code not in ("SoftFailure", "HardFailure"):
            raise ValueError(f"code must be SoftFailure or HardFailure, not {code!r}")
        with self.state.lock:
            self.state.notify_failures.update(dict.fromkeys(worker_ids, code))
        self._save()

    def seed_from_json(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /_emulator/seed``: ``{"hits": 1, ...seed_hit's options}`` -> ids made."""
        options = dict(body)
        count = int(options.pop("hits", 1))
        if "workers_only" in options:
            self.seed_workers(options["workers_only"])
            return {"hits": []}
        seeded = self.seed_hits(count, **options)
        return {
            "hits": [
                {"hit_id": s.hit_id, "assignment_ids": s.assignment_ids, "worker_ids": s.worker_ids}
                for s in seeded
            ]
        }
