"""Putting studies and submissions straight into the Prolific emulator's state, fast.

Tests need hundreds of submissions in given states; making them through the API is
impossible (participants make submissions), so seeding writes the state directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from crowdgate.testing.prolific_requests import ID_PATTERN
from crowdgate.testing.prolific_state import (
    COMPLETE_STATUSES,
    SUBMISSION_STATUSES,
    Study,
    Submission,
)

if TYPE_CHECKING:
    from crowdgate.testing.prolific_emulator import ProlificEmulator

#: How long a seeded submission took, in seconds.
TIME_TAKEN = 300


@dataclass(frozen=True)
class SeededStudy:
    study_id: str
    submission_ids: list[str]
    participant_ids: list[str]


def make_id(seed: int, counter: int | str) -> str:
    """A 24-hex id, the same for the same seed and counter on every run."""
    return hashlib.sha256(f"prolific-emulator:{seed}:{counter}".encode()).hexdigest()[:24]


def minor_units(amount: str | Decimal | int, name: str = "amount") -> int:
    """``"1.50"`` (major units, at most two decimals) -> 150."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"{name} {amount!r} is not an amount like 1.50") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{name} {amount!r} is not an amount like 1.50")
    return int(value * 100)


def _nth(values: Any, index: int, default: Any) -> Any:
    """One value for submission ``index``: a list gives each its own, a scalar is shared."""
    if values is None:
        return default
    if isinstance(values, str):
        return values
    return values[index]


def check_participants(participant_ids: Sequence[str]) -> None:
    bad = [p for p in participant_ids if not isinstance(p, str) or not ID_PATTERN.match(p)]
    if bad:
        raise ValueError(f"participant ids must be 24 lowercase hex digits: {bad}")


def seed_study(
    emu: ProlificEmulator,
    *,
    places: int = 0,
    participants: Sequence[str] | None = None,
    statuses: Sequence[str] | str = "AWAITING REVIEW",
    study_codes: Sequence[str | None] | str | None = None,
    completion_code: str = "C1ABCD",
    reward: str | Decimal = "1.50",
    currency: str = "GBP",
    name: str = "A study",
    total_places: int | None = None,
    external_study_url: str = (
        "https://survey.example.org/s?PROLIFIC_PID={{%PROLIFIC_PID%}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    ),
    status: str = "ACTIVE",
) -> SeededStudy:
    """Add a study with ``places`` submissions and return their ids.

    ``participants``, ``statuses`` and ``study_codes`` are one value for all or a list
    with one per submission. Participants are generated when not given; a finished
    submission's code defaults to ``completion_code``, an unfinished one has none.
    """
    if places < 0:
        raise ValueError("places must not be negative")
    if participants is not None:
        if len(participants) != places:
            raise ValueError(f"participants lists {len(participants)} ids for {places} places")
        check_participants(participants)
        if len(set(participants)) != len(participants):
            raise ValueError("a participant takes part in a study once")
    for index in range(places):
        wanted = _nth(statuses, index, "AWAITING REVIEW")
        if wanted not in SUBMISSION_STATUSES:
            raise ValueError(f"status {wanted!r} is not one of {SUBMISSION_STATUSES}")
    cents = minor_units(reward, "reward")
    state = emu.state
    now = emu.now()
    with state.lock:
        study = Study(
            id=emu.new_id(),
            name=name,
            status=status,
            currency_code=currency,
            reward=cents,
            external_study_url=external_study_url,
            completion_codes=[
                {
                    "code": completion_code,
                    "code_type": "COMPLETED",
                    "actor": "participant",
                    "actions": [{"action": "MANUALLY_REVIEW"}],
                }
            ],
            total_available_places=max(places, total_places or 0),
            seq=state.seq(),
        )
        state.studies[study.id] = study
        submission_ids: list[str] = []
        participant_ids: list[str] = []
        for index in range(places):
            participant = participants[index] if participants is not None else emu.new_id()
            current = _nth(statuses, index, "AWAITING REVIEW")
            complete = current in COMPLETE_STATUSES
            default_code = completion_code if complete else None
            started = now - TIME_TAKEN - (places - index)
            submission = Submission(
                id=emu.new_id(),
                study_id=study.id,
                participant_id=participant,
                status=current,
                started_at=started,
                completed_at=started + TIME_TAKEN if complete else None,
                study_code=_nth(study_codes, index, default_code),
                reward=cents,
                times_approved=1 if current == "APPROVED" else 0,
                seq=state.seq(),
            )
            state.add_submission(submission)
            submission_ids.append(submission.id)
            participant_ids.append(participant)
    return SeededStudy(study.id, submission_ids, participant_ids)


def seed_from_json(emu: ProlificEmulator, body: Mapping[str, Any]) -> dict[str, Any]:
    """The control API's seeding: ``{"studies": 1, ...seed_study's options}`` adds studies,
    ``{"participants_only": [...]}`` makes participants known; answers the ids made."""
    options = dict(body)
    if "participants_only" in options:
        emu.seed_participants(options["participants_only"])
        return {"studies": [], "workspace_id": emu.workspace_id}
    count = int(options.pop("studies", 1))
    seeded = [emu.seed_study(**options) for _ in range(count)]
    return {
        "workspace_id": emu.workspace_id,
        "studies": [
            {
                "study_id": s.study_id,
                "submission_ids": s.submission_ids,
                "participant_ids": s.participant_ids,
            }
            for s in seeded
        ],
    }
