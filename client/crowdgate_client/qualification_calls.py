"""``Client``'s qualification calls: create a type, list its holders, grant it, revoke it.

What the seeds did with boto3's ``assign_qualification`` and ``revoke_qualification``
inside a bare ``except:``. Here a request that is wrong as a whole (a malformed
worker id, an unknown type, live mode without ``confirm="live"``) raises before any
worker is touched, and a platform failure on one worker is that worker's
``WorkerOutcome``, with the platform's code and message, while the others go ahead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crowdgate_client._endpoints import covers, expand, json_object
from crowdgate_client._http import Transport
from crowdgate_client.models import Mode, Platform
from crowdgate_client.qualification_models import (
    QualificationGrants,
    QualificationRevocations,
    QualificationType,
    QualifiedWorker,
)

QUALIFICATIONS = "/qualifications"
QUALIFIED_WORKERS = "/qualifications/{type_id}/workers"
GRANTS = "/qualifications/{type_id}/grants"
REVOCATIONS = "/qualifications/{type_id}/revocations"
#: The most worker ids one grant or revocation may name.
MAX_WORKERS = 100


class QualificationCalls:
    """Mixed into ``Client``; needs its ``_transport``."""

    _transport: Transport

    @covers(f"POST {QUALIFICATIONS}")
    def create_qualification_type(
        self,
        name: str,
        description: str,
        *,
        platform: Platform = "mturk",
        mode: Mode = "sandbox",
        reuse_existing: bool = True,
    ) -> QualificationType:
        """The account's qualification type called ``name``, created if there is none.

        With ``reuse_existing=False`` an existing type of that name is a ConflictError
        instead. ``.created`` says which happened.
        """
        body = {
            "platform": platform,
            "mode": mode,
            "name": name,
            "description": description,
            "reuse_existing": reuse_existing,
        }
        response = self._transport.request("POST", QUALIFICATIONS, json=body)
        return QualificationType.from_json(json_object(response))

    @covers(f"GET {QUALIFIED_WORKERS}")
    def qualified_workers(
        self, type_id: str, *, platform: Platform = "mturk", mode: Mode = "sandbox"
    ) -> list[QualifiedWorker]:
        """Every worker holding the type now, with their values (NotFoundError: no such type)."""
        response = self._transport.request(
            "GET",
            expand(QUALIFIED_WORKERS, type_id=type_id),
            params={"platform": platform, "mode": mode},
        )
        return [QualifiedWorker.from_json(item) for item in json_object(response)["items"]]

    @covers(f"POST {GRANTS}")
    def grant_qualification(
        self,
        type_id: str,
        worker_ids: Iterable[str],
        *,
        value: int = 1,
        notify: bool = False,
        platform: Platform = "mturk",
        mode: Mode = "sandbox",
    ) -> QualificationGrants:
        """Grant the type with ``value`` to 1 to 100 distinct workers, without telling them
        unless ``notify=True``. Check ``.failures`` for workers the platform refused.
        """
        body: dict[str, Any] = {
            "platform": platform,
            "mode": mode,
            "worker_ids": _worker_list(worker_ids),
            "value": value,
            "notify": notify,
        }
        response = self._transport.request("POST", expand(GRANTS, type_id=type_id), json=body)
        return QualificationGrants.from_json(json_object(response))

    @covers(f"POST {REVOCATIONS}")
    def revoke_qualification(
        self,
        type_id: str,
        worker_ids: Iterable[str],
        *,
        reason: str,
        confirm: str | None = None,
        platform: Platform = "mturk",
        mode: Mode = "sandbox",
    ) -> QualificationRevocations:
        """Revoke the type from 1 to 100 distinct workers; MTurk e-mails each the ``reason``,
        so live mode needs ``confirm="live"``. Check ``.failures`` for workers it refused.
        """
        body: dict[str, Any] = {
            "platform": platform,
            "mode": mode,
            "worker_ids": _worker_list(worker_ids),
            "reason": reason,
        }
        if confirm is not None:
            body["confirm"] = confirm
        response = self._transport.request("POST", expand(REVOCATIONS, type_id=type_id), json=body)
        return QualificationRevocations.from_json(json_object(response))


def _worker_list(worker_ids: Iterable[str]) -> list[str]:
    if isinstance(worker_ids, str):
        # A lone string would otherwise be sent as a list of its characters.
        raise TypeError("worker_ids is a list of worker ids, e.g. ['A1B2C3D4E5F6G7']")
    return list(worker_ids)


__all__ = ["MAX_WORKERS", "QualificationCalls"]
