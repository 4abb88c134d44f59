"""Putting HITs and submitted assignments straight into the emulator's state, fast.

Tests and benchmarks need thousands of assignments; making them through the API
would take minutes, so seeding writes the state directly (10,000 in well under a second).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crowdgate.testing.mturk_account import Account
from crowdgate.testing.mturk_assignment_operations import ASSIGNMENT_STATUSES
from crowdgate.testing.mturk_hit_operations import hit_type_for
from crowdgate.testing.mturk_state import HIT, Assignment
from crowdgate.testing.mturk_xml import answers_xml, external_question


@dataclass(frozen=True)
class SeededHIT:
    hit_id: str
    assignment_ids: list[str]
    worker_ids: list[str]


def _nth(values: Any, index: int, default: Any) -> Any:
    """One value for assignment ``index``: a list gives each its own, a scalar is shared."""
    if values is None:
        return default
    if isinstance(values, str | int | float | Mapping):
        return values
    return values[index]


def seed_hit(
    account: Account,
    *,
    assignments: int = 0,
    workers: Sequence[str] | None = None,
    answers: Sequence[Mapping[str, str]] | Mapping[str, str] | None = None,
    statuses: Sequence[str] | str = "Submitted",
    submit_times: Sequence[float] | float | None = None,
    max_assignments: int | None = None,
    reward: str = "1.00",
    title: str = "A survey",
    url: str = "https://survey.example.org/s",
    lifetime: int = 7 * 24 * 3600,
    created_at: float | None = None,
    annotation: str = "",
) -> SeededHIT:
    """Add a HIT with ``assignments`` submitted assignments and return their ids.

    ``workers``, ``answers``, ``statuses`` and ``submit_times`` are either one value for
    all or a list with one per assignment; workers are generated when not given and
    answers default to ``{"surveycode": <a code>}``.
    """
    if workers is not None and len(workers) != assignments:
        raise ValueError(f"workers lists {len(workers)} ids for {assignments} assignments")
    for index in range(assignments):
        status = _nth(statuses, index, "Submitted")
        if status not in ASSIGNMENT_STATUSES:
            raise ValueError(f"status {status!r} is not one of {ASSIGNMENT_STATUSES}")
    now = account.now()
    created = created_at if created_at is not None else now - 3600
    with account.state.lock:
        kind = hit_type_for(
            account,
            {
                "title": title,
                "description": title,
                "keywords": "",
                "reward": Decimal(reward),
                "assignment_duration": 3600,
                "auto_approval_delay": 2_592_000,
                "qualification_requirements": [],
            },
        )
        hit = HIT(
            hit_id=account.new_id(),
            hit_type_id=kind.hit_type_id,
            title=title,
            description=title,
            keywords="",
            question=external_question(url),
            reward=Decimal(reward),
            max_assignments=max(max_assignments or assignments, assignments, 1),
            assignment_duration=3600,
            auto_approval_delay=2_592_000,
            created_at=created,
            expires_at=created + lifetime,
            annotation=annotation,
            prepaid=False,
            seq=account.state.seq(),
        )
        account.state.hits[hit.hit_id] = hit
        assignment_ids: list[str] = []
        worker_ids: list[str] = []
        for index in range(assignments):
            worker_id = workers[index] if workers is not None else account.new_worker_id()
            submitted = float(_nth(submit_times, index, created + 60 + index))
            answer = _nth(answers, index, None) or {"surveycode": f"CODE{index:06d}"}
            status = _nth(statuses, index, "Submitted")
            assignment = Assignment(
                assignment_id=account.new_id(),
                hit_id=hit.hit_id,
                worker_id=worker_id,
                status=status,
                answer=answers_xml(answer),
                accepted_at=submitted - 300,
                submitted_at=submitted,
                auto_approval_at=submitted + hit.auto_approval_delay,
                deadline=submitted - 300 + hit.assignment_duration,
                approved_at=submitted + 60 if status == "Approved" else None,
                rejected_at=submitted + 60 if status == "Rejected" else None,
                times_approved=1 if status == "Approved" else 0,
                seq=account.state.seq(),
            )
            account.state.add_assignment(assignment)
            assignment_ids.append(assignment.assignment_id)
            worker_ids.append(worker_id)
    return SeededHIT(hit.hit_id, assignment_ids, worker_ids)


def seed_workers(account: Account, worker_ids: Sequence[str]) -> None:
    """Make workers known (as if they had worked for this requester before)."""
    with account.state.lock:
        account.state.workers.update(worker_ids)
