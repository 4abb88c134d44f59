"""Bonuses: a plan first (nothing is paid), then a job that pays each bonus once.

``Client`` has the methods; ``client.bonuses`` offers them as ``plan``, ``pay`` and
``ledger`` for scripts that read better that way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal

from crowdgate_client._endpoints import covers, expand, json_object, paginate
from crowdgate_client._http import Transport
from crowdgate_client.bonus_models import Bonus, BonusPlan
from crowdgate_client.platform_models import Job

BONUSES = "/studies/{slug}/bonuses"
#: One bonus to pay: worker_id, amount (a Decimal or a money string), and optionally
#: reason, assignment_id and key (to tell distinct bonuses to one assignment apart).
BonusItem = Mapping[str, Any]
BonusState = Literal["pending", "sending", "sent", "failed"]


def _body(items: Iterable[BonusItem] | None, from_state: str | None, reason: str) -> dict[str, Any]:
    if (items is None) == (from_state is None):
        raise TypeError("give items or from_state, not both and not neither")
    body: dict[str, Any] = {"reason": reason}
    if items is not None:
        body["items"] = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items()}
            for item in items
        ]
    else:
        body["from_state"] = from_state
    return body


class BonusCalls:
    """Mixed into ``Client``; needs its ``_transport`` and ``wait_for_job``."""

    _transport: Transport
    wait_for_job: Callable[..., Job]

    @covers(f"POST {BONUSES}")
    def plan_bonuses(
        self,
        slug: str,
        items: Iterable[BonusItem] | None = None,
        *,
        from_state: str | None = None,
        reason: str = "",
    ) -> BonusPlan:
        """What paying would do (count, total, fee, balance, refused items); pays nothing.

        Give ``items``, or ``from_state`` to pay each participant the amount in that key
        of their state (with a ``reason``).
        """
        body = {**_body(items, from_state, reason), "dry_run": True}
        response = self._transport.request("POST", expand(BONUSES, slug=slug), json=body)
        return BonusPlan.from_json(json_object(response))

    @covers(f"POST {BONUSES}")
    def pay_bonuses(
        self,
        slug: str,
        items: Iterable[BonusItem] | None = None,
        *,
        from_state: str | None = None,
        reason: str = "",
        confirm: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Pay the bonuses (``confirm="live"`` in live mode); returns the job, finished if
        ``wait``. Sending the same items again pays nothing more."""
        body = {**_body(items, from_state, reason), "dry_run": False}
        if confirm is not None:
            body["confirm"] = confirm
        data = json_object(self._transport.request("POST", expand(BONUSES, slug=slug), json=body))
        job = Job.from_json(data.get("job") or data)
        if wait and not job.finished:
            return self.wait_for_job(job, timeout=timeout, on_progress=on_progress)
        return job

    @covers(f"GET {BONUSES}")
    def bonus_ledger(
        self, slug: str, *, state: BonusState | None = None, page_size: int = 100
    ) -> Iterator[Bonus]:
        """Every bonus of the study's ledger, oldest first (optionally in one state)."""
        params: dict[str, Any] = {"limit": page_size}
        if state is not None:
            params["state"] = state
        return paginate(
            lambda query: json_object(
                self._transport.request("GET", expand(BONUSES, slug=slug), params=query)
            ),
            params,
            Bonus.from_json,
        )

    @property
    def bonuses(self) -> Bonuses:
        """``plan``, ``pay`` and ``ledger`` for one client."""
        return Bonuses(self)


class Bonuses:
    """``client.bonuses.plan(...)``, ``.pay(...)``, ``.ledger(...)``."""

    def __init__(self, calls: BonusCalls) -> None:
        self.plan = calls.plan_bonuses
        self.pay = calls.pay_bonuses
        self.ledger = calls.bonus_ledger
