"""Reading the message ledger: a study's messages with their counts, and recipients."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crowdgate.domain.message_plans import FAILED, SENT
from crowdgate.models import Message, MessageRecipient, Study


def list_messages(
    session: Session, study: Study, *, after: int | None, limit: int
) -> list[tuple[Message, dict[str, int]]]:
    """The study's messages, oldest first, each with its recipients counted by outcome."""
    query = select(Message).where(Message.study_id == study.id)
    if after is not None:
        query = query.where(Message.id > after)
    found = list(session.scalars(query.order_by(Message.id).limit(limit)))
    counts: dict[int, dict[str, int]] = {m.id: {} for m in found}
    if found:
        for message_id, state, outcome, number in session.execute(
            select(
                MessageRecipient.message_id,
                MessageRecipient.state,
                MessageRecipient.outcome,
                func.count(),
            )
            .where(MessageRecipient.message_id.in_(list(counts)))
            .group_by(MessageRecipient.message_id, MessageRecipient.state, MessageRecipient.outcome)
        ):
            name = outcome if state in (SENT, FAILED) and outcome else state
            counts[message_id][name] = counts[message_id].get(name, 0) + int(number)
    return [(m, counts[m.id]) for m in found]


def get_message(session: Session, study: Study, message_id: int) -> Message | None:
    return session.scalar(
        select(Message).where(Message.study_id == study.id, Message.id == message_id)
    )


def list_recipients(
    session: Session,
    message: Message,
    *,
    state: str | None,
    outcome: str | None,
    after: int | None,
    limit: int,
) -> list[MessageRecipient]:
    query = select(MessageRecipient).where(MessageRecipient.message_id == message.id)
    if state is not None:
        query = query.where(MessageRecipient.state == state)
    if outcome is not None:
        query = query.where(MessageRecipient.outcome == outcome)
    if after is not None:
        query = query.where(MessageRecipient.id > after)
    return list(session.scalars(query.order_by(MessageRecipient.id).limit(limit)))
