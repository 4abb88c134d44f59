"""Paying bonuses on a platform that pays in batches with a pay that is not idempotent.

Prolific sets up a bulk bonus for many submissions, then pays it with a second call;
paying the same bulk bonus twice pays everyone twice, and the pay has no token. So:

1. a claimed batch of rows is set up on the platform (harmless: a set-up that is never
   paid costs nothing, so an unclear set-up is simply done again);
2. the batch's id and the time of the pay are written to the rows *before* the pay is
   sent;
3. the pay is sent once. An answer means paid (or refused: not paid). No answer (a
   timeout, a dropped connection, a 5xx) leaves the rows unclaimed with their batch;
4. such rows, and rows of a runner that died after step 2, are settled only by reading
   the submissions' bonuses back: a payment found settles the row as sent; a row whose
   payment has not shown ``pay_settle_seconds`` after its pay was asked for (the
   platform pays asynchronously) was not paid, and is set up again in a new batch. The
   old batch is never paid again.

Rows a runner died holding before step 2 were never paid and go back to pending.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crowdgate.domain import job_items, jobs
from crowdgate.domain.bonus_plans import FAILED, PENDING, SENDING, SENT
from crowdgate.domain.bonus_rows import (
    COLUMNS,
    Backoff,
    Outcome,
    Row,
    close,
    next_batch,
    paid_elsewhere,
    tally,
)
from crowdgate.errors import CrowdgateError
from crowdgate.models import Bonus, Participant
from crowdgate.platforms import PlatformClient
from crowdgate.platforms.failures import PlatformError, PlatformRejected
from crowdgate.platforms.records import BonusBatch, BonusLine

#: How often a job waiting for unclear pays to show reads them back.
POLL_SECONDS = 5.0


@dataclass
class _Result:
    """What became of one claimed batch of rows."""

    final: list[Outcome] = field(default_factory=list)
    #: not paid, and safe to set up again: (row id, why)
    again: list[tuple[int, str]] = field(default_factory=list)
    #: the pay may have gone through: (row id, why); settled by reading back
    unclear: list[tuple[int, str]] = field(default_factory=list)

    def merge(self, other: _Result) -> None:
        self.final.extend(other.final)
        self.again.extend(other.again)
        self.unclear.extend(other.unclear)


def send_claimed(run: jobs.JobRun, client: PlatformClient, pool: ThreadPoolExecutor) -> bool:
    """Claim and pay batches until none is left; True if the job was cancelled."""
    backoff = Backoff()
    while True:
        claimed = next_batch(run)
        if not claimed:
            return claimed is None
        result = _Result()
        groups = _by_posting(run, claimed, result)
        batches: list[tuple[BonusBatch, list[Row]]] = []
        for found, refused in pool.map(lambda item: _set_up(client, *item), groups.items()):
            batches.extend(found)
            result.merge(refused)
        for paid in pool.map(lambda item: _pay(client, *item), _record_pays(run, batches)):
            result.merge(paid)
        with run.db.write() as session:
            close(session, run, result.final)
            _again(session, result.again)
            _unclaim(session, result.unclear)
        if not run.helping:
            tally(run)
            _count_awaiting(run)
            run.save_progress()
        backoff.after(len(result.again) + len(result.unclear), len(claimed))


def _by_posting(run: jobs.JobRun, claimed: Sequence[Row], result: _Result) -> dict[str, list[Row]]:
    """The rows by the posting their submission is on (the participant's recorded
    posting); rows without one fail, naming why."""
    with run.db.read() as session:
        postings = dict(
            session.execute(
                select(Bonus.id, func.max(Participant.hit_id))
                .join(
                    Participant,
                    (Participant.study_id == Bonus.study_id)
                    & (Participant.worker_id == Bonus.worker_id)
                    & (Participant.assignment_id == Bonus.assignment_id),
                )
                .where(Bonus.id.in_([row.id for row in claimed]))
                .group_by(Bonus.id)
            ).all()
        )
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in claimed:
        posting = postings.get(row.id)
        if posting:
            groups[posting].append(row)
        else:
            error = (
                "no_posting: the participant's posting (the platform's study id) is not "
                "recorded, so the platform cannot be told which study the bonus is for"
            )
            result.final.append(Outcome(row.id, FAILED, error, {"error": error}))
    return groups


def _set_up(
    client: PlatformClient, posting: str, group: list[Row]
) -> tuple[list[tuple[BonusBatch, list[Row]]], _Result]:
    """Set the group up as one batch; when the platform refuses it, halves are set up
    apart until the refused rows are alone, so one bad row fails only itself."""
    refused = _Result()
    lines = [BonusLine(r.worker_id, r.assignment_id, Decimal(r.amount)) for r in group]
    try:
        return [(client.set_up_bonuses(posting, lines), group)], refused
    except PlatformRejected as exc:
        problem: CrowdgateError = exc
    except PlatformError as exc:
        # Unavailable: a set-up that happened unseen is never paid, so it is redone.
        refused.again.extend((r.id, _said(exc)) for r in group)
        return [], refused
    except CrowdgateError as exc:
        problem = exc
    if len(group) == 1:
        error = _said(problem)
        refused.final.append(Outcome(group[0].id, FAILED, error, {"error": error}))
        return [], refused
    half = len(group) // 2
    batches: list[tuple[BonusBatch, list[Row]]] = []
    for part in (group[:half], group[half:]):
        found, part_refused = _set_up(client, posting, part)
        batches.extend(found)
        refused.merge(part_refused)
    return batches, refused


def _record_pays(
    run: jobs.JobRun, batches: Sequence[tuple[BonusBatch, list[Row]]]
) -> list[tuple[BonusBatch, list[Row]]]:
    """Write each row's batch and the time its pay is asked for, before it is sent; the
    batches to pay. A batch with a row this runner no longer holds (a runner that took
    the job over while this one stalled) is not paid by this runner: its new owner
    settles those rows."""
    if not batches:
        return []
    now = run.clock()
    ids = [row.id for _, group in batches for row in group]
    with run.db.write() as session:
        query = select(Bonus.id).where(
            Bonus.id.in_(ids),
            Bonus.claimed_by == run.runner,
            Bonus.state == SENDING,
            Bonus.pay_requested_at.is_(None),
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        held = set(session.scalars(query))
        kept = [(b, group) for b, group in batches if all(row.id in held for row in group)]
        if kept:
            session.execute(
                update(Bonus),
                [
                    {"id": row.id, "batch_id": batch.id, "pay_requested_at": now}
                    for batch, group in kept
                    for row in group
                ],
            )
    return kept


def _pay(client: PlatformClient, batch: BonusBatch, group: list[Row]) -> _Result:
    result = _Result()
    try:
        client.pay_bonuses(batch.id)
    except PlatformRejected as exc:
        error = _said(exc)
        result.final.extend(
            Outcome(r.id, FAILED, error, {"batch_id": batch.id, "error": error}) for r in group
        )
    except PlatformError as exc:
        status = exc.extra.get("http_status") if isinstance(exc.extra, dict) else None
        if isinstance(status, int) and 400 <= status < 500:
            # Throttled past every retry, or the token refused: turned away unpaid.
            result.again.extend((r.id, _said(exc)) for r in group)
        else:
            result.unclear.extend((r.id, _said(exc)) for r in group)
    else:
        response = {"batch_id": batch.id}
        result.final.extend(Outcome(r.id, SENT, None, response) for r in group)
    return result


def _said(exc: CrowdgateError) -> str:
    code = exc.platform_code if isinstance(exc, PlatformError) else None
    return f"{code or exc.code}: {exc.message}"


def _again(session: Session, again: Sequence[tuple[int, str]]) -> None:
    """Back to pending, without a batch: they are set up anew (the old batch, if any,
    was never paid)."""
    if again:
        session.execute(
            update(Bonus),
            [
                {
                    "id": row_id,
                    "state": PENDING,
                    "claimed_by": None,
                    "claimed_at": None,
                    "batch_id": None,
                    "pay_requested_at": None,
                    "last_error": error,
                }
                for row_id, error in again
            ],
        )


def _unclaim(session: Session, unclear: Sequence[tuple[int, str]]) -> None:
    """Left 'sending' with their batch and no runner: settled by reading back."""
    if unclear:
        session.execute(
            update(Bonus),
            [
                {"id": row_id, "claimed_by": None, "claimed_at": None, "last_error": error}
                for row_id, error in unclear
            ],
        )


# --- settling --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    row: Row
    pay_requested_at: datetime | None


def _unsettled(run: jobs.JobRun) -> list[_Held]:
    with run.db.read() as session:
        return [
            _Held(Row(*values[:-1]), values[-1])
            for values in session.execute(
                select(*COLUMNS, Bonus.pay_requested_at)
                .where(job_items.abandoned(Bonus, run.job_id, stale_before=run.stale_before()))
                .order_by(Bonus.id)
            )
        ]


def unsettled(run: jobs.JobRun) -> bool:
    """Whether rows of the job are left 'sending' by no live runner."""
    return bool(_unsettled(run))


def settle(run: jobs.JobRun, client: PlatformClient) -> None:
    """Settle the rows no live runner holds: never paid → pending; pay asked for →
    sent when the platform lists the payment, pending (new batch) when it still does
    not ``pay_settle_seconds`` later, else left to wait."""
    held = _unsettled(run)
    if not held:
        return
    now = run.clock()
    again = [
        (h.row.id, "set up but never paid (its runner stopped)")
        for h in held
        if h.pay_requested_at is None
    ]
    paying = [h for h in held if h.pay_requested_at is not None]
    by_assignment: dict[str, list[_Held]] = defaultdict(list)
    for h in paying:
        by_assignment[h.row.assignment_id].append(h)
    found: list[Outcome] = []
    for assignment_id, group in by_assignment.items():
        try:
            paid = Counter(
                Decimal(b.amount) for b in client.list_bonuses(assignment_id=assignment_id)
            )
        except (PlatformError, CrowdgateError):
            continue  # not knowable now: looked for again on the next pass
        with run.db.read() as session:
            for _, amount, _ in paid_elsewhere(session, run.study_id, assignment_id):
                paid[Decimal(amount)] -= 1
        for h in group:
            amount = Decimal(h.row.amount)
            if paid[amount] > 0:
                paid[amount] -= 1
                found.append(
                    Outcome(h.row.id, SENT, response={"settled": "found paid on the platform"})
                )
            elif h.pay_requested_at is not None and _waited(now, h.pay_requested_at) >= (
                client.pay_settle_seconds
            ):
                again.append(
                    (
                        h.row.id,
                        f"its pay's answer was lost and the platform showed no such payment "
                        f"{client.pay_settle_seconds:g} s later: set up again",
                    )
                )
    with run.db.write() as session:
        close(session, run, found)
        _again(session, again)
    run.count("settled_after_restart", len(found))


def await_payments(run: jobs.JobRun, client: PlatformClient) -> None:
    """Pause while the only rows left are pays waiting to show, until the first of them
    is due to be given up on (or one poll), so the job neither spins nor ends early."""
    held = [h for h in _unsettled(run) if h.pay_requested_at is not None]
    if not held or run.cancel_requested():
        return
    now = run.clock()
    due = min(
        client.pay_settle_seconds - _waited(now, h.pay_requested_at)
        for h in held
        if h.pay_requested_at is not None
    )
    _count_awaiting(run)
    run.save_progress()
    time.sleep(max(0.05, min(POLL_SECONDS, due)))


def _waited(now: datetime, since: datetime) -> float:
    return (now - since).total_seconds()


def _count_awaiting(run: jobs.JobRun) -> None:
    with run.db.read() as session:
        run.counts["awaiting_confirmation"] = int(
            session.scalar(
                select(func.count()).where(
                    Bonus.job_id == run.job_id,
                    Bonus.state == SENDING,
                    Bonus.pay_requested_at.is_not(None),
                )
            )
            or 0
        )
