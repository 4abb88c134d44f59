"""A platform's qualification types: create or reuse one, grant it, revoke it, list holders.

Nothing here is stored: the platform itself is the record of who holds a qualification
(exclusion groups keep crowdgate's own record and sync it). Grants and revocations go
worker by worker, and a platform error on one worker is that worker's outcome, not
the request's, so a throttled call in the middle of a list stops nobody else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from crowdgate.domain.confirmation import require_live_confirmation
from crowdgate.errors import Conflict, NotFound, ValidationFailed
from crowdgate.platforms import (
    PlatformClient,
    PlatformError,
    PlatformRejected,
    QualificationGrant,
    QualificationType,
    get_platform,
)

#: The most workers one grant or revocation request names (MTurk's bulk calls take 100).
MAX_WORKERS = 100

GRANTED, REVOKED, FAILED = "granted", "revoked", "failed"


@dataclass(frozen=True)
class WorkerOutcome:
    """What happened to one worker: ``outcome`` is granted, revoked or failed."""

    worker_id: str
    outcome: str
    error: dict[str, Any] | None = None


def check_worker_ids(platform: str, worker_ids: Sequence[str]) -> None:
    """Refuse the whole request if any id cannot be one of ``platform``'s workers."""
    checker = get_platform(platform)
    bad = [
        (index, worker_id, problem)
        for index, worker_id in enumerate(worker_ids)
        if (problem := checker.validate_worker_id(worker_id))
    ]
    if bad:
        index, worker_id, problem = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ValidationFailed(
            f"worker_ids.{index} {worker_id!r} {problem}{more}.",
            code="invalid_worker_id",
            fields={f"worker_ids.{i}": [p] for i, _, p in bad},
        )


def require_revocation_confirmed(mode: str, confirm: str | None) -> None:
    """Live revocations need ``confirm: "live"``: the platform e-mails every worker."""
    require_live_confirmation(
        mode,
        confirm,
        why="Revoking in live mode reaches real workers: the platform e-mails each one the "
        "reason, and nothing can stop that.",
        when="to revoke in live mode",
    )


def create_or_reuse(
    client: PlatformClient, name: str, description: str, *, reuse_existing: bool
) -> tuple[QualificationType, bool]:
    """The requester's type named ``name``: the existing one, or a new one (then True).

    Without ``reuse_existing``, an existing type of that name is a 409: the caller
    asked for a new type and would otherwise grant an old one without knowing.
    """
    found = client.find_qualification_type(name)
    if found is not None:
        if not reuse_existing:
            raise Conflict(
                f"A qualification type named {name!r} exists already ({found.id}); send "
                "reuse_existing: true to use it, or choose another name.",
                code="qualification_type_exists",
                fields={"name": [f"is taken by qualification type {found.id}"]},
                extra={"qualification_type_id": found.id},
            )
        return found, False
    return client.create_qualification_type(name, description), True


def holders(
    client: PlatformClient, platform: str, mode: str, type_id: str
) -> list[QualificationGrant]:
    """Every worker holding the type now, every page read."""
    return list(_known_type(client.list_qualified(type_id), platform, mode, type_id))


def grant(
    client: PlatformClient,
    platform: str,
    mode: str,
    type_id: str,
    worker_ids: Sequence[str],
    *,
    value: int,
    notify: bool,
) -> list[WorkerOutcome]:
    """Grant ``type_id`` with ``value`` to each worker; one outcome per worker, in order."""
    require_type(client, platform, mode, type_id)
    return _each_worker(
        worker_ids,
        lambda worker_id: client.grant_qualification(type_id, worker_id, value, notify=notify),
        GRANTED,
    )


def revoke(
    client: PlatformClient,
    platform: str,
    mode: str,
    type_id: str,
    worker_ids: Sequence[str],
    *,
    reason: str,
) -> list[WorkerOutcome]:
    """Revoke ``type_id`` from each worker, telling them ``reason``; one outcome each."""
    require_type(client, platform, mode, type_id)
    return _each_worker(
        worker_ids,
        lambda worker_id: client.revoke_qualification(type_id, worker_id, reason),
        REVOKED,
    )


def _each_worker(
    worker_ids: Sequence[str], act: Callable[[str], None], done: str
) -> list[WorkerOutcome]:
    """``act`` on each worker in turn; a platform error is that worker's outcome only."""
    outcomes = []
    for worker_id in worker_ids:
        try:
            act(worker_id)
        except PlatformError as exc:
            outcomes.append(WorkerOutcome(worker_id, FAILED, failure(exc)))
        else:
            outcomes.append(WorkerOutcome(worker_id, done))
    return outcomes


def require_type(client: PlatformClient, platform: str, mode: str, type_id: str) -> None:
    """Refuse an unknown type before touching any worker.

    Otherwise a mistyped id would come back as the same failure once per worker; one
    page of its holders is the cheapest call that names only the type.
    """
    next(_known_type(client.list_qualified(type_id), platform, mode, type_id), None)


def _known_type(
    grants: Iterator[QualificationGrant], platform: str, mode: str, type_id: str
) -> Iterator[QualificationGrant]:
    """The grants, with the platform refusing the type id itself made a 404 naming it."""
    started = False
    try:
        for found in grants:
            started = True
            yield found
    except PlatformRejected as exc:
        if started:
            raise
        raise NotFound(
            f"{platform} ({mode}) has no qualification type {type_id!r} this account can use: "
            f"{exc.message}",
            code="qualification_type_not_found",
            fields={"type_id": ["no such qualification type on this platform and mode"]},
            extra=exc.extra,
        ) from exc


def failure(exc: PlatformError) -> dict[str, Any]:
    """A worker's failure as the API reports it: crowdgate's code and the platform's."""
    return {
        "code": exc.code,
        "message": exc.message,
        "platform_code": exc.platform_code or None,
        "retryable": exc.retryable,
    }


def counts(outcomes: Sequence[WorkerOutcome], done: str) -> dict[str, int]:
    return {
        done: sum(1 for o in outcomes if o.outcome == done),
        FAILED: sum(1 for o in outcomes if o.outcome == FAILED),
    }
