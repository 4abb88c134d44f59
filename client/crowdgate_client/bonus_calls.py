"""Bonuses: a plan first (nothing is paid), then a job that pays each bonus once.

``Client`` has the methods; ``client.bonuses`` offers them as ``plan``, ``pay`` and
``ledger`` for scripts that read better that way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from crowdgate_client._endpoints import covers, expand, json_object, paginate
from crowdgate_client._http import Transport
from crowdgate_client.bonus_models import Bonus, BonusPlan
from crowdgate_client.platform_calls import UploadFile
from crowdgate_client.platform_models import Job

BONUSES = "/studies/{slug}/bonuses"
#: One bonus to pay: worker_id, amount (a Decimal or a money string), and optionally
#: reason, assignment_id and key (to tell distinct bonuses to one assignment apart).
BonusItem = Mapping[str, Any]
BonusState = Literal["pending", "sending", "sent", "failed"]


def _body(items: Iterable[BonusItem] | None, from_state: str | None, reason: str) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": reason}
    if items is not None:
        body["items"] = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in item.items()}
            for item in items
        ]
    else:
        body["from_state"] = from_state
    return body


def _one_source(items: object, from_state: object, csv: object) -> None:
    if sum(source is not None for source in (items, from_state, csv)) != 1:
        raise TypeError("give one of items, from_state or csv")


def _file(source: UploadFile) -> tuple[str, bytes, str]:
    """The multipart part of a CSV file, read whole so that a retry can send it again."""
    if isinstance(source, str | Path):
        return Path(source).name, Path(source).read_bytes(), "text/csv"
    given = getattr(source, "name", None)
    name = Path(given).name if isinstance(given, str) and given else "bonuses.csv"
    return name, source.read(), "text/csv"


class BonusCalls:
    """Mixed into ``Client``; needs its ``_transport``, ``wait_for_job`` and ``cancel_job``."""

    _transport: Transport
    wait_for_job: Callable[..., Job]
    cancel_job: Callable[[str], Job]

    def _post_bonuses(
        self,
        slug: str,
        items: Iterable[BonusItem] | None,
        from_state: str | None,
        csv: UploadFile | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        _one_source(items, from_state, csv)
        path = expand(BONUSES, slug=slug)
        if csv is None:
            body = {**_body(items, from_state, fields.pop("reason")), **fields}
            return json_object(self._transport.request("POST", path, json=body))
        # A file goes up as it is: the service reads it and names its bad lines.
        form = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in fields.items()}
        files = {"file": _file(csv)}
        return json_object(self._transport.request("POST", path, data=form, files=files))

    @covers(f"POST {BONUSES}")
    def plan_bonuses(
        self,
        slug: str,
        items: Iterable[BonusItem] | None = None,
        *,
        from_state: str | None = None,
        csv: UploadFile | None = None,
        reason: str = "",
    ) -> BonusPlan:
        """What paying would do (count, total, fee, balance, refused items); pays nothing.

        Give ``items``; or ``from_state`` to pay each participant the amount in that key
        of their state (with a ``reason``); or ``csv``, a CSV file (a path or a binary
        file) with worker_id (or WorkerId, Participant id) and amount columns, and
        optionally reason, assignment_id (or AssignmentId) and key. A file's bad lines
        come back as a ValidationError naming them (in ``fields["file"]``); the plan's
        items and refused items carry their ``line``.
        """
        fields = {"reason": reason, "dry_run": True}
        return BonusPlan.from_json(self._post_bonuses(slug, items, from_state, csv, fields))

    @covers(f"POST {BONUSES}")
    def pay_bonuses(
        self,
        slug: str,
        items: Iterable[BonusItem] | None = None,
        *,
        from_state: str | None = None,
        csv: UploadFile | None = None,
        reason: str = "",
        confirm: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Pay the bonuses of ``items``, ``from_state`` or ``csv`` (``confirm="live"`` in
        live mode); returns the job, finished if ``wait``. Sending the same items again
        pays nothing more."""
        fields: dict[str, Any] = {"reason": reason, "dry_run": False}
        if confirm is not None:
            fields["confirm"] = confirm
        data = self._post_bonuses(slug, items, from_state, csv, fields)
        job = Job.from_json(data.get("job") or data, self)
        if wait and not job.finished:
            return job.wait(timeout=timeout, on_progress=on_progress)
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
