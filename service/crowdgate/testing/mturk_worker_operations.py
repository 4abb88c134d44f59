"""Money and messages: GetAccountBalance, SendBonus, ListBonusPayments, NotifyWorkers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crowdgate.testing.mturk_account import BONUS_FEE_RATE, Account, fee
from crowdgate.testing.mturk_assignment_operations import find_assignment
from crowdgate.testing.mturk_hit_operations import find_hit
from crowdgate.testing.mturk_requests import WORKER_ID, MTurkError, Params, bad, page
from crowdgate.testing.mturk_state import Bonus, Message

MAX_NOTIFY_WORKERS = 100
MAX_SUBJECT = 200
MAX_MESSAGE = 4096


def get_account_balance(account: Account, params: Params) -> dict[str, Any]:
    return {"AvailableBalance": f"{account.state.balance:.2f}", "OnHoldBalance": "0.00"}


def send_bonus(account: Account, params: Params) -> dict[str, Any]:
    worker_id = params.worker_id()
    amount = params.money("BonusAmount")
    assert amount is not None
    assignment = find_assignment(account, params.entity_id("AssignmentId") or "")
    reason = params.text("Reason", max_length=4096)
    token = params.string("UniqueRequestToken", max_length=64)
    if amount < Decimal("0.01"):
        raise bad("BonusAmount must be at least $0.01")
    if assignment.worker_id != worker_id:
        raise MTurkError(
            f"Worker {worker_id} did not work on assignment {assignment.assignment_id}.",
            "AWS.MechanicalTurk.InvalidParameterValue",
        )
    if account.token_seen("SendBonus", token) is not None:
        assert token is not None
        raise account.duplicate(token)
    charge = fee(amount, BONUS_FEE_RATE)
    account.charge(amount + charge)
    bonus = Bonus(
        worker_id=worker_id,
        assignment_id=assignment.assignment_id,
        hit_id=assignment.hit_id,
        amount=amount,
        fee=charge,
        reason=reason,
        granted_at=account.now(),
        token=token,
        seq=account.state.seq(),
    )
    account.state.bonuses[bonus.seq] = bonus
    account.remember_token("SendBonus", token, str(bonus.seq))
    return {}


def list_bonus_payments(account: Account, params: Params) -> dict[str, Any]:
    hit_id = params.entity_id("HITId", required=False)
    assignment_id = params.entity_id("AssignmentId", required=False)
    if (hit_id is None) == (assignment_id is None):
        raise bad("Exactly one of HITId and AssignmentId must be given", "AWS.MissingParameters")
    if hit_id is not None:
        find_hit(account, hit_id)
        rows = [b for b in account.state.bonuses.values() if b.hit_id == hit_id]
    else:
        find_assignment(account, assignment_id or "")
        rows = [b for b in account.state.bonuses.values() if b.assignment_id == assignment_id]
    chosen, extra = page(params, rows, lambda b: b.seq)
    payments = [
        {
            "WorkerId": b.worker_id,
            "BonusAmount": f"{b.amount:.2f}",
            "AssignmentId": b.assignment_id,
            "Reason": b.reason,
            "GrantTime": b.granted_at,
        }
        for b in chosen
    ]
    return {"BonusPayments": payments, **extra}


def notify_workers(account: Account, params: Params) -> dict[str, Any]:
    subject = params.text("Subject", max_length=MAX_SUBJECT)
    text = params.text("MessageText", max_length=MAX_MESSAGE)
    worker_ids = params.raw("WorkerIds")
    if not isinstance(worker_ids, list) or not 1 <= len(worker_ids) <= MAX_NOTIFY_WORKERS:
        raise bad(f"WorkerIds must list 1 to {MAX_NOTIFY_WORKERS} workers")
    failures: list[dict[str, str]] = []
    now = account.now()
    for worker_id in dict.fromkeys(worker_ids):
        if not isinstance(worker_id, str) or not WORKER_ID.fullmatch(worker_id):
            raise bad(f"WorkerIds: '{worker_id}' is not a valid worker id")
        if worker_id not in account.state.workers:
            # MTurk only lets a requester write to workers who have worked for them.
            failures.append(
                {
                    "NotifyWorkersFailureCode": "HardFailure",
                    "NotifyWorkersFailureMessage": f"Worker {worker_id} has not worked for you.",
                    "WorkerId": worker_id,
                }
            )
            continue
        failure = account.state.notify_failures.get(worker_id)
        if failure is not None:
            failures.append(
                {
                    "NotifyWorkersFailureCode": failure,
                    "NotifyWorkersFailureMessage": f"Worker {worker_id} cannot be reached now."
                    if failure == "SoftFailure"
                    else f"Worker {worker_id} has blocked you.",
                    "WorkerId": worker_id,
                }
            )
            continue
        account.state.messages.append(Message(worker_id, "notification", subject, text, now))
    return {"NotifyWorkersFailureStatuses": failures}
