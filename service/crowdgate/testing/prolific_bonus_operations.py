"""Bonuses (set up, then pay: the pay is NOT idempotent) and messages to participants.

``csv_bonuses`` amounts are major units ("4.25" is £4.25); everything the API answers
is in minor units. Fees are a third of the amount, VAT nothing, as in Prolific's own
example (850 -> fees 283.34).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from crowdgate.testing.prolific_requests import ProlificError, Request, number
from crowdgate.testing.prolific_state import BonusPayment, BulkBonus, Message
from crowdgate.testing.prolific_submission_operations import study_of

if TYPE_CHECKING:
    from crowdgate.testing.prolific_emulator import ProlificEmulator

#: Recipients one bulk message may have ("4,000 by default").
MAX_BULK_RECIPIENTS = 4000


def fees_for(amount: int) -> Decimal:
    """A third of ``amount``, rounded up to a hundredth of a penny."""
    return Decimal(math.ceil(Decimal(amount) * 100 / 3)) / 100


def _bulk_body(bulk: BulkBonus) -> dict[str, Any]:
    return {
        "id": bulk.id,
        "study": bulk.study_id,
        "amount": bulk.amount,
        "fees": number(bulk.fees),
        "vat": number(bulk.vat),
        "total_amount": number(bulk.amount + bulk.fees + bulk.vat),
    }


def set_up_bonus(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    study = study_of(emu, request.id("study_id"))
    csv = request.text("csv_bonuses")
    by_participant = {s.participant_id: s for s in emu.state.submissions_of(study.id)}
    by_submission = {s.id: s for s in by_participant.values()}
    lines: list[list[Any]] = []
    strangers: list[str] = []
    for number_, line in enumerate(csv.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2:
            raise ProlificError(
                400, {"csv_bonuses": [f"Line {number_} is not '<id>,<amount>': {line!r}"]}
            )
        who, raw = parts
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise ProlificError(
                400,
                {"csv_bonuses": [f"Line {number_}: {raw!r} is not an amount like 1.50"]},
            )
        submission = by_participant.get(who) or by_submission.get(who)
        if submission is None:
            strangers.append(who)
            continue
        lines.append([submission.participant_id, submission.id, int(amount * 100)])
    if strangers:
        raise ProlificError(
            400,
            {
                "csv_bonuses": [
                    "The submission and participant IDs need to have taken part in the "
                    f"study {study.id}; these did not: {', '.join(strangers)}"
                ]
            },
        )
    if not lines:
        raise ProlificError(400, {"csv_bonuses": ["No bonuses given."]})
    amount = sum(line[2] for line in lines)
    bulk = BulkBonus(
        id=emu.new_id(),
        study_id=study.id,
        lines=lines,
        amount=amount,
        fees=sum((fees_for(line[2]) for line in lines), Decimal(0)),
        vat=Decimal(0),
        created_at=emu.now(),
    )
    emu.state.bulk_bonuses[bulk.id] = bulk
    return 201, _bulk_body(bulk)


def pay_bonus(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    """Pay every line of the bulk bonus, again on every call, as Prolific warns."""
    state = emu.state
    bulk = state.bulk_bonuses.get(request.args["id"])
    if bulk is None:
        raise ProlificError(404, f"Bulk bonus payment {request.args['id']} not found.")
    total = bulk.amount + bulk.fees + bulk.vat
    if state.balance < total:
        raise ProlificError(
            400,
            f"Your balance ({number(state.balance)}) is too low to pay these bonuses "
            f"({number(total)}).",
        )
    if emu.pay_delay:
        # "The payment will be done in the following minutes": a client that reads the
        # submissions back at once does not see it yet.
        emu.later(emu.pay_delay, lambda: settle(emu, bulk))
    else:
        settle(emu, bulk)
    return 202, {}


def settle(emu: ProlificEmulator, bulk: BulkBonus) -> None:
    """Pay every line of ``bulk`` once more (call under the state's lock)."""
    state = emu.state
    now = emu.now()
    for participant_id, submission_id, amount in bulk.lines:
        fees = fees_for(amount)
        state.submissions[submission_id].bonus_payments.append(amount)
        state.payments.append(
            BonusPayment(bulk.id, bulk.study_id, participant_id, submission_id, amount, fees, now)
        )
    state.balance -= bulk.amount + bulk.fees + bulk.vat
    bulk.times_paid += 1


def _known(emu: ProlificEmulator, ids: list[str], field: str) -> None:
    unknown = [i for i in ids if i not in emu.state.participants]
    if unknown:
        raise ProlificError(400, {field: [f"Unknown participants: {', '.join(unknown)}"]})


def send_message(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    recipient = request.id("recipient_id")
    study = study_of(emu, request.id("study_id"))
    body = request.text("body")
    _known(emu, [recipient], "recipient_id")
    emu.state.messages.append(Message(recipient, study.id, body, emu.now()))
    return 201, {}


def bulk_message(emu: ProlificEmulator, request: Request) -> tuple[int, Any]:
    ids = request.ids("ids")
    if not ids:
        raise ProlificError(400, {"ids": ["Give at least one participant id."]})
    if len(ids) > MAX_BULK_RECIPIENTS:
        raise ProlificError(
            400, {"ids": [f"At most {MAX_BULK_RECIPIENTS} participants per bulk message."]}
        )
    study = study_of(emu, request.id("study_id"))
    body = request.text("body")
    _known(emu, ids, "ids")
    now = emu.now()
    emu.state.messages.extend(Message(p, study.id, body, now, bulk=True) for p in ids)
    return 201, {}
