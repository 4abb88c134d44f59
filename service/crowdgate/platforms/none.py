"""Studies without a platform: a lab's own link, a panel, a classroom."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

from crowdgate.platforms.base import Platform, PlatformClient, PlatformSettings
from crowdgate.platforms.failures import NotSupported
from crowdgate.platforms.records import (
    BonusBatch,
    BonusLine,
    BonusPayment,
    NotifyResult,
    Posting,
    PostingRequest,
    QualificationGrant,
    QualificationType,
    Submission,
)


class NoPlatform(Platform):
    name = "none"
    worker_id_description = "1 to 128 printable characters, no '/', no space at either end"
    worker_id_pattern = re.compile(r"[^/]{1,128}")

    def validate_worker_id(self, worker_id: str) -> str | None:
        # Ids a lab hands out come from spreadsheets and URLs: invisible characters
        # (Unicode controls, line separators, non-breaking spaces) would make two ids
        # that look the same differ. A '/' cannot travel in the URL path the id sits in.
        if (
            not self.worker_id_pattern.fullmatch(worker_id)
            or not worker_id.isprintable()
            or worker_id != worker_id.strip()
        ):
            return f"is not a valid {self.name} worker id: expected {self.worker_id_description}"
        return None

    def posting_fee(self, reward: Decimal, assignments: int) -> Decimal:
        raise _refusal(
            "has no postings or fees",
            "Recruit through your own link; crowdgate's record still counts who took part.",
        )

    def bonus_fee(self, amount: Decimal) -> Decimal:
        raise _refusal(
            "has no payments or fees",
            "Pay participants through your own system; export who completed from crowdgate.",
        )

    def connect(self, mode: str, settings: PlatformSettings) -> NoPlatformClient:
        return NoPlatformClient()


def _refusal(what: str, instead: str) -> NotSupported:
    return NotSupported(
        f"A study without a platform (platform 'none') {what} on any platform. {instead} "
        "To use platform features, create the study on 'mturk' or 'prolific'.",
        extra={"platform": "none"},
    )


class NoPlatformClient(PlatformClient):
    """Refuses every call, each time saying what there is instead."""

    platform = "none"

    def _no(self, what: str, instead: str) -> NoReturn:
        raise _refusal(what, instead)

    def list_submissions(self, posting_ids: Sequence[str]) -> Iterator[Submission]:
        self._no(
            "has no submissions to list",
            "Its participants are crowdgate's own record: list them with "
            "GET /api/v1/studies/{slug}/participants or export them as CSV.",
        )

    def get_submission(self, assignment_id: str) -> Submission | None:
        self._no(
            "has no submissions to read",
            "Its participants are crowdgate's own record: read one with "
            "GET /api/v1/studies/{slug}/participants/{worker_id}.",
        )

    def approve(self, assignment_id: str, feedback: str = "") -> None:
        self._no(
            "has no submissions to approve",
            "Mark the participant's status in crowdgate, and pay through your own system.",
        )

    def approve_many(self, assignment_ids: Sequence[str]) -> None:
        self.approve("")

    def reject(self, assignment_id: str, feedback: str, *, category: str | None = None) -> None:
        self._no(
            "has no submissions to reject",
            "Mark the participant's status in crowdgate instead.",
        )

    def balance(self) -> Decimal:
        self._no("has no account balance", "Check the budget in your own payment system.")

    def send_bonus(
        self,
        worker_id: str,
        assignment_id: str | None,
        amount: Decimal,
        reason: str,
        *,
        token: str,
    ) -> None:
        self._no(
            "has no payments",
            "Pay bonuses through your own system (export who earned what from crowdgate).",
        )

    def set_up_bonuses(self, posting_id: str, lines: Sequence[BonusLine]) -> BonusBatch:
        self._no(
            "has no payments",
            "Pay bonuses through your own system (export who earned what from crowdgate).",
        )

    def pay_bonuses(self, batch_id: str) -> None:
        self.set_up_bonuses("", [])

    def list_bonuses(
        self, *, posting_id: str | None = None, assignment_id: str | None = None
    ) -> Iterator[BonusPayment]:
        self._no("has no payments to list", "Your own payment system holds what was paid.")

    def notify(
        self,
        worker_ids: Sequence[str],
        subject: str,
        body: str,
        *,
        posting_id: str | None = None,
    ) -> list[NotifyResult]:
        self._no(
            "has no messages",
            "Contact participants through the channel you recruited them by (e-mail, a panel).",
        )

    def create_qualification_type(self, name: str, description: str) -> QualificationType:
        self._no(
            "has no qualifications",
            "Exclude repeat participants with crowdgate's exclusion groups and the "
            "eligibility endpoint instead.",
        )

    def find_qualification_type(self, name: str) -> QualificationType | None:
        self._no(
            "has no qualifications",
            "Use crowdgate's exclusion groups and the eligibility endpoint instead.",
        )

    def grant_qualification(
        self, type_id: str, worker_id: str, value: int = 1, *, notify: bool = False
    ) -> None:
        self._no(
            "has no qualifications to grant",
            "Add the participant to a crowdgate exclusion group instead.",
        )

    def revoke_qualification(self, type_id: str, worker_id: str, reason: str = "") -> None:
        self._no(
            "has no qualifications to revoke",
            "Remove the participant from the crowdgate exclusion group instead.",
        )

    def list_qualified(self, type_id: str) -> Iterator[QualificationGrant]:
        self._no(
            "has no qualifications to list",
            "List the members of the crowdgate exclusion group instead.",
        )

    def create_posting(self, request: PostingRequest) -> Posting:
        self._no(
            "has no postings (HITs) to create",
            "Share the survey link with your participants yourself.",
        )

    def get_posting(self, posting_id: str) -> Posting:
        self._no("has no postings (HITs) to read", "The study's own record is in crowdgate.")

    def extend_posting(
        self, posting_id: str, *, add_assignments: int = 0, expires_at: datetime | None = None
    ) -> None:
        self._no(
            "has no postings (HITs) to extend",
            "Raise the study's condition targets in crowdgate to admit more participants.",
        )

    def expire_posting(self, posting_id: str) -> None:
        self._no(
            "has no postings (HITs) to expire",
            "Close the study in crowdgate to stop new participants starting.",
        )
