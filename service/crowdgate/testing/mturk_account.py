"""The emulated requester account: state, clock, ids and MTurk's fee rules."""

from __future__ import annotations

import random
import string
import threading
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from crowdgate.testing.mturk_requests import MTurkError
from crowdgate.testing.mturk_state import EmulatorState

CENT = Decimal("0.01")
TOKEN_LIFETIME = 24 * 3600
_ALPHABET = string.ascii_uppercase + string.digits


def fee(amount: Decimal, rate: Decimal) -> Decimal:
    """MTurk's commission on ``amount``: ``rate`` of it, rounded to the cent, $0.01 at least."""
    return max(CENT, (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP))


def posting_fee_rate(max_assignments: int) -> Decimal:
    # MTurk charges 40% on HITs with 10 or more assignments, 20% below that.
    return Decimal("0.40") if max_assignments >= 10 else Decimal("0.20")


BONUS_FEE_RATE = Decimal("0.20")


class Account:
    """What every operation works on. Hold ``state.lock`` while reading or changing state."""

    def __init__(
        self, state: EmulatorState, clock: Callable[[], float] = time.time, seed: int = 0
    ) -> None:
        self.state = state
        self.clock = clock
        # Ids come from their own generator so that faults drawn elsewhere do not move them.
        self._ids = random.Random(f"ids-{seed}")
        self._ids_lock = threading.Lock()

    def now(self) -> float:
        return self.clock()

    def new_id(self, length: int = 30, prefix: str = "") -> str:
        with self._ids_lock:
            tail = "".join(self._ids.choices(_ALPHABET, k=length - len(prefix)))
        return prefix + tail

    def new_worker_id(self) -> str:
        return self.new_id(14, "A")

    def charge(self, amount: Decimal) -> None:
        if amount > self.state.balance:
            raise MTurkError(
                f"This Requester has insufficient funds in their account to complete this "
                f"transaction: {amount} is needed and {self.state.balance} is available",
                "AWS.MechanicalTurk.InsufficientFunds",
            )
        self.state.balance -= amount

    def token_seen(self, operation: str, token: str | None) -> str | None:
        """What an earlier call with ``token`` made within the last 24 hours, if any."""
        if token is None:
            return None
        seen = self.state.tokens.get(operation, {}).get(token)
        if seen is None or self.now() - seen[1] >= TOKEN_LIFETIME:
            return None
        return seen[0]

    def remember_token(self, operation: str, token: str | None, made: str) -> None:
        if token is not None:
            self.state.tokens.setdefault(operation, {})[token] = (made, self.now())

    def duplicate(self, token: str) -> MTurkError:
        return MTurkError(
            f'The idempotency token "{token}" has already been processed.',
            "AWS.MechanicalTurk.DuplicateRequest",
        )
