"""Prolific, through its REST API (``prolific_http``): the only module that calls Prolific.

Prolific has no sandbox. crowdgate's "sandbox" and "live" modes both reach the one
configured API (CROWDGATE_PROLIFIC_API_URL, else Prolific's own); a study is
rehearsed against crowdgate's emulator by pointing that setting at it.

Participant groups stand in for MTurk's qualifications: a group is a "qualification
type", its members the workers holding it (a member's value is always 1, and Prolific
never tells a participant they were added or removed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from crowdgate.errors import ValidationFailed
from crowdgate.platforms import prolific_records as records
from crowdgate.platforms.base import Platform, PlatformClient, PlatformSettings
from crowdgate.platforms.failures import PlatformError, PlatformRejected, PlatformUnavailable
from crowdgate.platforms.prolific_http import PLATFORM, ProlificHttp, revealed
from crowdgate.platforms.records import (
    NOT_SENT,
    BonusBatch,
    BonusLine,
    BonusPayment,
    NotifyResult,
    Posting,
    QualificationGrant,
    QualificationType,
    Submission,
    failed_call,
)

#: Prolific's page that takes a finished participant's completion code.
COMPLETION_PAGE = "https://app.prolific.com/submissions/complete"
MODES = ("sandbox", "live")
#: Prolific's ids are 24 hex digits; anything that cannot break out of a URL path is
#: let through, so an id of another shape is Prolific's to refuse, not crowdgate's.
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Prolific refuses a rejection whose message is shorter.
MIN_REJECTION_MESSAGE = 100
MAX_GROUP_NAME = 255
#: Prolific requires one of these categories with every rejection.
REJECTION_CATEGORIES = (
    "BAD_CODE",
    "FAILED_CHECK",
    "FAILED_INSTRUCTIONS",
    "INCOMP_LONGITUDINAL",
    "LOW_EFFORT",
    "MALINGERING",
    "NO_CODE",
    "NO_DATA",
    "OTHER",
    "TOO_QUICKLY",
    "TOO_SLOWLY",
    "UNSUPP_DEVICE",
)
#: The category of a rejection whose caller named none.
REJECTION_CATEGORY = "OTHER"
#: Prolific's service fee on a bonus, as a share of it (fees = a third of the amount
#: in Prolific's own example, 850 -> 283.34, rounded up here to the cent).
BONUS_FEE_SHARE = Decimal(1) / Decimal(3)
#: Participants one bulk message may reach ("4,000 by default").
MAX_BULK_RECIPIENTS = 4000
#: Prolific messages have no subject; crowdgate puts it on the body's first line.
MAX_SUBJECT = 200
MAX_MESSAGE = 10000
#: Bonuses are paid "in the following minutes": how long crowdgate waits for an
#: unclear pay's payments to show before it takes them as not made.
PAY_SETTLE_SECONDS = 600.0
CURRENCY = "GBP"
#: Submissions crowdgate approves in one bulk approve: small enough that a refusal
#: (one submission no longer awaiting review) sends few back to be approved one by one.
BULK_APPROVE = 100


def refuse(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {problem}", fields={field: [problem]})


def checked_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise refuse(field, f"is not a Prolific id (24 hexadecimal characters): {value!r}")
    return value


class Prolific(Platform):
    name = "prolific"
    worker_id_description = "24 hexadecimal characters (a Prolific participant id)"
    worker_id_pattern = re.compile(r"[0-9a-fA-F]{24}")
    #: The answer field sync keeps the completion code a participant entered under.
    code_answer_field = records.CODE_FIELD
    #: A workspace's currency is GBP unless it was made in USD (CROWDGATE_PROLIFIC_CURRENCY).
    currency = CURRENCY
    study_accounts = True

    def bonus_fee(self, amount: Decimal) -> Decimal:
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            raise refuse("amount", f"must be a positive amount, got {amount!r}")
        cents = amount * BONUS_FEE_SHARE * 100
        return Decimal(math.ceil(cents)) / 100

    def check_message(self, subject: str, body: str) -> None:
        _check_text(subject, "subject", MAX_SUBJECT)
        _check_text(body, "body", MAX_MESSAGE)

    def completion_url(self, completion_code: str) -> str | None:
        return f"{COMPLETION_PAGE}?{urlencode({'cc': completion_code})}"

    def check_rejection(
        self,
        feedback: str,
        field: str = "feedback",
        category: str | None = None,
        category_field: str = "category",
    ) -> None:
        """Refuse (ValidationFailed naming the field) a rejection Prolific would refuse:
        it wants a message of at least 100 characters, shown to the participant, and
        one of its categories."""
        if category is not None and category not in REJECTION_CATEGORIES:
            raise refuse(
                category_field,
                f"must be one of Prolific's rejection categories "
                f"({', '.join(REJECTION_CATEGORIES)}), got {category!r}",
            )
        length = len(feedback.strip()) if isinstance(feedback, str) else 0
        if length < MIN_REJECTION_MESSAGE:
            raise refuse(
                field,
                f"must be at least {MIN_REJECTION_MESSAGE} characters for a Prolific rejection "
                f"(it is the message the participant reads), got {length}",
            )

    def connect(self, mode: str, settings: PlatformSettings) -> ProlificClient:
        """A client for ``mode``; both modes reach the same API (Prolific has no sandbox).

        ``settings.options`` gives ``token`` (required) and ``workspace_id`` (where
        participant groups are made and whose balance is read); ``settings.client``
        may be a ``requests.Session`` to send through.
        """
        if mode not in MODES:
            raise refuse("mode", f"must be 'sandbox' or 'live', got {mode!r}")
        token = revealed(settings.options.get("token")).strip()
        if not token:
            raise PlatformError(
                "No Prolific API token: set CROWDGATE_PROLIFIC_TOKEN where crowdgate runs "
                "(Prolific's web app, Settings > API tokens).",
                platform=PLATFORM,
                platform_code="NoToken",
                code="platform_credentials_missing",
            )
        http = ProlificHttp(
            settings.endpoint_url,
            token,
            timeout=settings.timeout,
            max_attempts=settings.max_attempts,
            rate_limit=settings.rate_limit,
            session=settings.client,
        )
        workspace = str(settings.options.get("workspace_id") or "").strip() or None
        settle = settings.options.get("pay_settle_seconds")
        return ProlificClient(
            http,
            mode=mode,
            workspace_id=workspace,
            currency=str(settings.options.get("currency") or CURRENCY).upper(),
            pay_settle_seconds=PAY_SETTLE_SECONDS if settle is None else float(settle),
        )


class ProlificClient(PlatformClient):
    """Prolific for one mode (both reach the same API)."""

    platform = PLATFORM
    bonus_payment = "batch"
    bulk_approve_size = BULK_APPROVE
    posting_completion_codes = True
    notify_needs_posting = True

    def __init__(
        self,
        http: ProlificHttp,
        *,
        mode: str,
        workspace_id: str | None,
        currency: str = CURRENCY,
        pay_settle_seconds: float = PAY_SETTLE_SECONDS,
    ) -> None:
        self.http = http
        self.mode = mode
        self.workspace_id = workspace_id
        self.currency = currency
        self.pay_settle_seconds = pay_settle_seconds

    def __repr__(self) -> str:
        return f"ProlificClient({self.http.base_url!r}, mode={self.mode!r})"

    def close(self) -> None:
        self.http.close()

    # --- submissions ------------------------------------------------------------------

    def list_submissions(self, posting_ids: Sequence[str]) -> Iterator[Submission]:
        """Every handed-in (or returned, timed-out) submission of the studies; places
        still held or under way are not submissions yet and are left out."""
        ids = [checked_id(p, f"posting_ids.{i}") for i, p in enumerate(posting_ids)]
        return self._submissions(ids)

    def _submissions(self, study_ids: list[str]) -> Iterator[Submission]:
        for study_id in study_ids:
            for page in self.http.pages(f"studies/{study_id}/submissions/"):
                for item in page:
                    found = records.submission(item, study_id)
                    if found is not None:
                        yield found

    def get_submission(self, assignment_id: str) -> Submission | None:
        """The submission (GET /submissions/{id}/), or None while its place is still
        held or under way, as ``list_submissions`` leaves those out."""
        checked_id(assignment_id, "assignment_id")
        found = self.http.call("GET", f"submissions/{assignment_id}/", idempotent=True)
        if not isinstance(found, dict) or "id" not in found:
            raise PlatformUnavailable(
                f"Prolific GET submissions/{assignment_id}/ gave no submission.",
                platform=PLATFORM,
                platform_code="UnexpectedAnswer",
                retryable=True,
            )
        return records.submission(found, "")

    def approve(self, assignment_id: str, feedback: str = "") -> None:
        """Approve (and pay) one submission; Prolific takes no message with an approval,
        so ``feedback`` is not sent."""
        checked_id(assignment_id, "assignment_id")
        self._transition(assignment_id, {"action": "APPROVE"}, "APPROVED")

    def approve_many(self, assignment_ids: Sequence[str]) -> None:
        """POST /submissions/bulk-approve/ with ``submission_ids``; Prolific approves them
        (and pays) in the background, and leaves approved ones as they are, so a repeat
        after a lost answer approves nothing twice."""
        ids = [checked_id(a, f"assignment_ids.{i}") for i, a in enumerate(assignment_ids)]
        if not ids or len(ids) > BULK_APPROVE:
            raise refuse("assignment_ids", f"must hold 1 to {BULK_APPROVE} submissions")
        self.http.call(
            "POST", "submissions/bulk-approve/", body={"submission_ids": ids}, idempotent=True
        )

    def reject(self, assignment_id: str, feedback: str, *, category: str | None = None) -> None:
        """Reject one submission with ``feedback`` as the participant's message and
        ``category`` (OTHER when None); both are checked before calling."""
        checked_id(assignment_id, "assignment_id")
        Prolific().check_rejection(feedback, category=category)
        body = {
            "action": "REJECT",
            "message": feedback.strip(),
            "rejection_category": category or REJECTION_CATEGORY,
        }
        self._transition(assignment_id, body, "REJECTED")

    def _transition(self, submission_id: str, body: dict[str, Any], target: str) -> None:
        try:
            # Prolific: "this endpoint is idempotent ... the second request will be ignored".
            self.http.call(
                "POST", f"submissions/{submission_id}/transition/", body=body, idempotent=True
            )
        except PlatformRejected:
            # Refused because it already is what was asked (a retry, an earlier job):
            # that is the outcome wanted.
            if self._status_of(submission_id) != target:
                raise

    def _status_of(self, submission_id: str) -> str | None:
        try:
            found = self.http.call("GET", f"submissions/{submission_id}/", idempotent=True)
        except PlatformError:
            return None
        return records.status_word(found.get("status")) if isinstance(found, dict) else None

    # --- money ------------------------------------------------------------------------

    def balance(self) -> Decimal:
        """What is available to spend (the workspace's, when one is configured, else the
        account's), in major units of its currency."""
        if self.workspace_id:
            path = f"workspaces/{checked_id(self.workspace_id, 'workspace_id')}/balance/"
        else:
            path = "users/me/"
        answer = self.http.call("GET", path, idempotent=True)
        if not isinstance(answer, dict) or "available_balance" not in answer:
            raise PlatformUnavailable(
                f"Prolific GET {path} gave no available_balance.",
                platform=PLATFORM,
                platform_code="UnexpectedAnswer",
                retryable=True,
            )
        return records.major_units(answer["available_balance"])

    def set_up_bonuses(self, posting_id: str, lines: Sequence[BonusLine]) -> BonusBatch:
        """POST /submissions/bonus-payments/: one line per bonus, by submission id (a
        participant may have several submissions), amounts in major units. Nothing is
        paid; a set-up that is never paid costs nothing, so an unclear one is retried."""
        checked_id(posting_id, "posting_id")
        if not lines:
            raise refuse("lines", "must hold at least one bonus")
        rows = []
        for index, line in enumerate(lines):
            checked_id(line.assignment_id, f"lines.{index}.assignment_id")
            if not line.amount.is_finite() or line.amount <= 0:
                raise refuse(f"lines.{index}.amount", f"must be positive, got {line.amount}")
            rows.append(f"{line.assignment_id},{line.amount.quantize(Decimal('0.01'))}\n")
        answer = self.http.call(
            "POST",
            "submissions/bonus-payments/",
            body={"study_id": posting_id, "csv_bonuses": "".join(rows)},
            idempotent=True,
        )
        if not isinstance(answer, dict) or not answer.get("id"):
            raise PlatformUnavailable(
                "Prolific POST submissions/bonus-payments/ gave no id.",
                platform=PLATFORM,
                platform_code="UnexpectedAnswer",
                retryable=True,
            )
        return BonusBatch(
            id=str(answer["id"]),
            amount=records.major_units(answer.get("amount")),
            fees=records.major_units(answer.get("fees")),
        )

    def pay_bonuses(self, batch_id: str) -> None:
        """POST /bulk-bonus-payments/{id}/pay/, sent once: Prolific pays everyone again
        on a second call, so a 5xx or a lost answer is never retried here."""
        checked_id(batch_id, "batch_id")
        self.http.call("POST", f"bulk-bonus-payments/{batch_id}/pay/", idempotent=False)

    def list_bonuses(
        self, *, posting_id: str | None = None, assignment_id: str | None = None
    ) -> Iterator[BonusPayment]:
        """The bonuses paid on each submission (Prolific keeps amounts, not reasons)."""
        if (posting_id is None) == (assignment_id is None):
            raise refuse("posting_id", "give this or assignment_id, not both")
        if assignment_id is not None:
            checked_id(assignment_id, "assignment_id")
            return self._bonuses_of_submission(assignment_id)
        return self._bonuses_of_study(checked_id(str(posting_id), "posting_id"))

    def _bonuses_of_submission(self, submission_id: str) -> Iterator[BonusPayment]:
        found = self.http.call("GET", f"submissions/{submission_id}/", idempotent=True)
        if isinstance(found, dict):
            yield from records.bonus_payments(found)

    def _bonuses_of_study(self, study_id: str) -> Iterator[BonusPayment]:
        for page in self.http.pages(f"studies/{study_id}/submissions/"):
            for item in page:
                yield from records.bonus_payments(item)

    # --- messages ---------------------------------------------------------------------

    def notify(
        self,
        worker_ids: Sequence[str],
        subject: str,
        body: str,
        *,
        posting_id: str | None = None,
    ) -> list[NotifyResult]:
        """POST /messages/bulk/ about the study ``posting_id``, in calls of 4,000; the
        subject is the body's first line (Prolific messages have none).

        Raises when nothing can have been sent; a call that may have reached Prolific
        (a lost answer, a 5xx) is reported per worker and not repeated, since Prolific
        would deliver it twice.
        """
        Prolific().check_message(subject, body)
        if posting_id is None:
            raise refuse("posting_id", "is required: Prolific messages are about one study")
        checked_id(posting_id, "posting_id")
        workers = list(dict.fromkeys(worker_ids))
        if not workers:
            raise refuse("worker_ids", "must name at least one participant")
        for index, worker in enumerate(workers):
            problem = Prolific().validate_worker_id(worker) if isinstance(worker, str) else None
            if not isinstance(worker, str) or problem:
                raise refuse(f"worker_ids.{index}", problem or "must be text")
        text = f"{subject.strip()}\n\n{body}"
        outcome: dict[str, NotifyResult] = {}
        sent_any = False
        for start in range(0, len(workers), MAX_BULK_RECIPIENTS):
            chunk = workers[start : start + MAX_BULK_RECIPIENTS]
            try:
                self.http.call(
                    "POST",
                    "messages/bulk/",
                    body={"ids": chunk, "study_id": posting_id, "body": text},
                    idempotent=False,
                )
            except PlatformError as exc:
                # A 429 that outlasted every retry was carried out no more than a refusal.
                unclear = (
                    isinstance(exc, PlatformUnavailable) and exc.extra.get("http_status") != 429
                )
                if not sent_any and not unclear:
                    raise
                problem = (
                    f"{exc.message} (Prolific may have delivered it: check before sending again)"
                    if unclear
                    else f"{NOT_SENT} {exc.message}"
                )
                failed_call(
                    outcome,
                    chunk,
                    workers,
                    problem=problem,
                    platform_code=exc.platform_code or "",
                    message=exc.message,
                )
                break
            sent_any = True
            for worker in chunk:
                outcome[worker] = NotifyResult(worker, ok=True)
        return [outcome[worker] for worker in workers]

    # --- participant groups as qualifications -----------------------------------------

    def create_qualification_type(self, name: str, description: str) -> QualificationType:
        """A new participant group in the configured workspace; if an unclear failure
        hid that Prolific made it, the group of that name."""
        _check_name(name)
        body: dict[str, Any] = {
            "name": name,
            "workspace_id": self._workspace("create a participant group"),
        }
        if description:
            body["description"] = description
        try:
            # Not idempotent: a second POST makes a second group of the same name.
            answer = self.http.call("POST", "participant-groups/", body=body, idempotent=False)
        except PlatformUnavailable:
            found = self.find_qualification_type(name)
            if found is None:
                raise
            return found
        return records.group(answer)

    def find_qualification_type(self, name: str) -> QualificationType | None:
        """The oldest live group of the workspace with exactly this name, if any."""
        _check_name(name)
        params = {"workspace_id": self.workspace_id} if self.workspace_id else {}
        for page in self.http.pages("participant-groups/", params):
            for found in page:
                if found.get("name") == name and not found.get("is_deleted"):
                    return records.group(found)
        return None

    def grant_qualification(
        self, type_id: str, worker_id: str, value: int = 1, *, notify: bool = False
    ) -> None:
        """Add the participant to the group (Prolific ignores a member added again, and
        tells nobody, so ``notify`` and ``value`` have no effect)."""
        self._members("POST", type_id, worker_id)

    def revoke_qualification(self, type_id: str, worker_id: str, reason: str = "") -> None:
        """Remove the participant from the group (Prolific ignores a non-member, and
        sends no message, so ``reason`` goes nowhere)."""
        self._members("DELETE", type_id, worker_id)

    def _members(self, method: str, group_id: str, worker_id: str) -> None:
        checked_id(group_id, "type_id")
        problem = Prolific().validate_worker_id(worker_id) if isinstance(worker_id, str) else None
        if not isinstance(worker_id, str) or problem:
            raise refuse("worker_id", problem or "must be text")
        self.http.call(
            method,
            f"participant-groups/{group_id}/participants/",
            body={"participant_ids": [worker_id]},
            idempotent=True,
        )

    def list_qualified(self, type_id: str) -> Iterator[QualificationGrant]:
        checked_id(type_id, "type_id")
        return self._qualified(type_id)

    def _qualified(self, group_id: str) -> Iterator[QualificationGrant]:
        for page in self.http.pages(f"participant-groups/{group_id}/participants/"):
            for found in page:
                yield records.member(found)

    def _workspace(self, what: str) -> str:
        if not self.workspace_id:
            raise PlatformError(
                f"crowdgate cannot {what} without a Prolific workspace: set "
                "CROWDGATE_PROLIFIC_WORKSPACE_ID to the workspace's id.",
                platform=PLATFORM,
                platform_code="NoWorkspace",
                code="platform_workspace_missing",
            )
        return checked_id(self.workspace_id, "workspace_id")

    # --- postings ---------------------------------------------------------------------

    def get_posting(self, posting_id: str) -> Posting:
        """The study, with its places under way and handed in from Prolific's counts."""
        checked_id(posting_id, "posting_id")
        answer = self.http.call("GET", f"studies/{posting_id}/", idempotent=True)
        counts = self.http.call("GET", f"studies/{posting_id}/submissions/counts/", idempotent=True)
        return records.posting(answer, counts if isinstance(counts, dict) else None)


def _check_text(value: str, field: str, maximum: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise refuse(field, "must not be empty")
    if len(value) > maximum:
        raise refuse(field, f"is {len(value)} characters long; Prolific takes at most {maximum}")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise refuse("name", "must not be empty")
    if len(name) > MAX_GROUP_NAME:
        raise refuse("name", f"is {len(name)} characters long; at most {MAX_GROUP_NAME}")
