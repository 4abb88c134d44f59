"""Amazon Mechanical Turk, through boto3: the only module that builds an MTurk client.

Retries are botocore's (standard mode: exponential backoff with jitter on throttling,
5xx and dropped connections), so each call here is one logical call. Not adaptive
mode: its client-side limiter, shared by every job in the process, slows all calls to
a crawl after a few throttles; CROWDGATE_MTURK_RATE_LIMIT paces calls instead.

What a retry could do twice is made safe: HITs, bonuses and extra assignments carry
a UniqueRequestToken (a repeat answers "already done" and counts as success),
approving or rejecting checks the assignment's state when MTurk refuses, and
NotifyWorkers, which has no token, is never retried after a 5xx or a lost answer
(throttling is still retried: a throttled request was never carried out).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

from crowdgate.errors import ValidationFailed
from crowdgate.platforms import mturk_checks as check
from crowdgate.platforms.base import Platform, PlatformClient, PlatformSettings, chunked
from crowdgate.platforms.failures import PlatformError, PlatformRejected
from crowdgate.platforms.mturk_errors import (
    DUPLICATE_CODES,
    THROTTLING_CODES,
    mturk_call,
    translate,
)
from crowdgate.platforms.mturk_hits import hit_params
from crowdgate.platforms.mturk_records import (
    ASSIGNMENT_STATUSES,
    posting,
    qualification_type,
    submission,
    utc,
)
from crowdgate.platforms.pacing import Pacer
from crowdgate.platforms.records import (
    BonusPayment,
    NotifyResult,
    Posting,
    PostingRequest,
    QualificationGrant,
    QualificationType,
    Submission,
    failed_call,
)

REGION = "us-east-1"
ENDPOINTS: Mapping[str, str] = {
    "sandbox": "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
    "live": "https://mturk-requester.us-east-1.amazonaws.com",
}

#: Where workers see a mode's HITs.
WORKER_SITES: Mapping[str, str] = {
    "sandbox": "https://workersandbox.mturk.com",
    "live": "https://worker.mturk.com",
}

#: MTurk's system qualification types, by the name crowdgate gives them.
MTURK_SYSTEM_QUALIFICATIONS: Mapping[str, str] = {
    "approval_rate": "000000000000000000L0",  # PercentAssignmentsApproved, 0-100
    "locale": "00000000000000000071",  # Worker_Locale, compared with LocaleValues
    "approved_hits": "00000000000000000040",  # NumberHITsApproved
    "adult": "00000000000000000060",  # Worker_Adult, 1 for adults
    "masters": "2F1QJWKUDD8XADTFD2Q0G6UTO95ALH",  # Masters (live; sandbox has its own)
}

ALL_ASSIGNMENT_STATUSES = tuple(ASSIGNMENT_STATUSES)

_HIT_ID_IN_MESSAGE = re.compile(r"\b([A-Z0-9]{20,64})\b")
_PAGE = {"PageSize": 100}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MTurk(Platform):
    name = "mturk"
    worker_id_description = "'A' followed by 1 to 63 capital letters or digits"
    worker_id_pattern = re.compile(r"A[A-Z0-9]{1,63}")
    currency = "USD"
    system_qualifications = MTURK_SYSTEM_QUALIFICATIONS

    def worker_url(self, mode: str, posting: Posting) -> str | None:
        site = WORKER_SITES.get(mode)
        if site is None or not posting.type_id:
            return None
        return f"{site}/projects/{posting.type_id}/tasks"

    def posting_fee(self, reward: Decimal, assignments: int) -> Decimal:
        """20% of each assignment's reward, 40% when the HIT has 10 or more; $0.01 minimum each."""
        if assignments < 1:
            raise check.refuse("assignments", f"must be at least 1, got {assignments}")
        check.money(reward, "reward")
        rate = Decimal("0.40") if assignments >= 10 else Decimal("0.20")
        return check.fee(reward, rate) * assignments

    def bonus_fee(self, amount: Decimal) -> Decimal:
        check.money(amount, "amount")
        return check.fee(amount, Decimal("0.20"))

    def check_message(self, subject: str, body: str) -> None:
        check.text(subject, "subject", maximum=check.MAX_SUBJECT)
        check.text(body, "body", maximum=check.MAX_MESSAGE)

    def connect(self, mode: str, settings: PlatformSettings) -> MTurkClient:
        if mode not in ENDPOINTS:
            raise check.refuse("mode", f"must be 'sandbox' or 'live', got {mode!r}")
        client = settings.client
        if client is None:
            # A session per client: boto3's default session is not safe to share
            # while threads create clients, and credentials come from its usual chain.
            client = boto3.session.Session().client(
                "mturk",
                region_name=REGION,
                endpoint_url=settings.endpoint_url or ENDPOINTS[mode],
                config=Config(
                    # total_max_attempts counts the first try; botocore's max_attempts
                    # would not, and CROWDGATE_MTURK_MAX_ATTEMPTS means every attempt.
                    retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
                    # a bonus job sends up to CROWDGATE_BONUS_CONCURRENCY (64) calls at once
                    max_pool_connections=64,
                    connect_timeout=settings.timeout,
                    read_timeout=settings.timeout,
                ),
            )
        if settings.rate_limit:
            pacer = Pacer(settings.rate_limit)
            # before-send fires for every HTTP request, retries included; a handler
            # that returns None lets the request go on.
            client.meta.events.register("before-send.mturk", lambda **_: pacer.wait())
        return MTurkClient(client, mode=mode, owns_client=settings.client is None)


class MTurkClient(PlatformClient):
    """MTurk in one mode, over a boto3 ``mturk`` client (which is thread-safe)."""

    platform = "mturk"

    def __init__(self, client: Any, *, mode: str, owns_client: bool = False) -> None:
        self.client = client
        self.mode = mode
        self._owns_client = owns_client
        client.meta.events.register_first(
            "needs-retry.mturk.NotifyWorkers",
            _notify_retry_guard,
            unique_id="crowdgate-notify-retry-guard",
        )

    def close(self) -> None:
        if self._owns_client:  # a client handed over in the settings is its owner's
            self.client.close()

    # --- submissions ------------------------------------------------------------------

    def list_submissions(self, posting_ids: Sequence[str]) -> Iterator[Submission]:
        ids = [check.entity_id(p, f"posting_ids.{i}") for i, p in enumerate(posting_ids)]
        return self._submissions(ids)

    def _submissions(self, posting_ids: list[str]) -> Iterator[Submission]:
        paginator = self.client.get_paginator("list_assignments_for_hit")
        for hit_id in posting_ids:
            pages = paginator.paginate(
                HITId=hit_id,
                AssignmentStatuses=list(ALL_ASSIGNMENT_STATUSES),
                PaginationConfig=_PAGE,
            )
            with mturk_call("ListAssignmentsForHIT"):
                for page in pages:
                    for assignment in page.get("Assignments", []):
                        yield submission(assignment, hit_id)

    def approve(self, assignment_id: str, feedback: str = "") -> None:
        check.entity_id(assignment_id, "assignment_id")
        check.text(feedback, "feedback", maximum=check.MAX_FEEDBACK, required=False)
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if feedback:
            params["RequesterFeedback"] = feedback
        try:
            with mturk_call("ApproveAssignment"):
                self.client.approve_assignment(**params)
        except PlatformRejected:
            # A retry of an approval MTurk carried out (then failed to answer) meets
            # an assignment that is no longer Submitted: that is the success it wanted.
            if self._assignment_status(assignment_id) != "Approved":
                raise

    def reject(self, assignment_id: str, feedback: str, *, category: str | None = None) -> None:
        # MTurk has no rejection categories: the feedback is all a worker is told.
        check.entity_id(assignment_id, "assignment_id")
        check.text(feedback, "feedback", maximum=check.MAX_FEEDBACK)
        try:
            with mturk_call("RejectAssignment"):
                self.client.reject_assignment(
                    AssignmentId=assignment_id, RequesterFeedback=feedback
                )
        except PlatformRejected:
            if self._assignment_status(assignment_id) != "Rejected":
                raise

    def _assignment_status(self, assignment_id: str) -> str | None:
        try:
            with mturk_call("GetAssignment"):
                found = self.client.get_assignment(AssignmentId=assignment_id)
        except PlatformError:
            return None
        return found.get("Assignment", {}).get("AssignmentStatus")  # type: ignore[no-any-return]

    # --- money ------------------------------------------------------------------------

    def balance(self) -> Decimal:
        with mturk_call("GetAccountBalance"):
            answer = self.client.get_account_balance()
        return Decimal(answer.get("AvailableBalance", "0"))

    def send_bonus(
        self,
        worker_id: str,
        assignment_id: str | None,
        amount: Decimal,
        reason: str,
        *,
        token: str,
    ) -> None:
        check.worker_id(worker_id)
        if assignment_id is None:
            raise check.refuse("assignment_id", "is required: MTurk pays a bonus for an assignment")
        check.entity_id(assignment_id, "assignment_id")
        text = check.money(amount, "amount")
        check.text(reason, "reason", maximum=check.MAX_MESSAGE)
        check.token(token)
        try:
            with mturk_call("SendBonus"):
                self.client.send_bonus(
                    WorkerId=worker_id,
                    AssignmentId=assignment_id,
                    BonusAmount=text,
                    Reason=reason,
                    UniqueRequestToken=token,
                )
        except PlatformRejected as exc:
            if exc.platform_code not in DUPLICATE_CODES:
                raise

    def list_bonuses(
        self, *, posting_id: str | None = None, assignment_id: str | None = None
    ) -> Iterator[BonusPayment]:
        if (posting_id is None) == (assignment_id is None):
            raise ValidationFailed(
                "Give exactly one of posting_id and assignment_id: MTurk lists bonuses by one.",
                fields={"posting_id": ["give this or assignment_id, not both"]},
            )
        params: dict[str, Any] = {"PaginationConfig": _PAGE}
        if posting_id is not None:
            params["HITId"] = check.entity_id(posting_id, "posting_id")
        else:
            params["AssignmentId"] = check.entity_id(str(assignment_id), "assignment_id")
        return self._bonuses(params)

    def _bonuses(self, params: dict[str, Any]) -> Iterator[BonusPayment]:
        pages = self.client.get_paginator("list_bonus_payments").paginate(**params)
        with mturk_call("ListBonusPayments"):
            for page in pages:
                for bonus in page.get("BonusPayments", []):
                    yield BonusPayment(
                        worker_id=bonus["WorkerId"],
                        assignment_id=bonus.get("AssignmentId"),
                        amount=Decimal(bonus["BonusAmount"]),
                        reason=bonus.get("Reason", ""),
                        paid_at=utc(bonus.get("GrantTime")),
                    )

    # --- messages ---------------------------------------------------------------------

    def notify(
        self,
        worker_ids: Sequence[str],
        subject: str,
        body: str,
        *,
        posting_id: str | None = None,
    ) -> list[NotifyResult]:
        """Message the workers in calls of 100; one result per distinct worker, in order.

        Raises when nothing can have been sent (bad input, or the first call refused);
        once a message may have gone out, failures are reported per worker instead, so
        that nobody is sent the same message again by a retry of the whole list.
        """
        check.text(subject, "subject", maximum=check.MAX_SUBJECT)
        check.text(body, "body", maximum=check.MAX_MESSAGE)
        workers = list(dict.fromkeys(worker_ids))
        if not workers:
            raise check.refuse("worker_ids", "must name at least one worker")
        for index, worker in enumerate(worker_ids):
            check.worker_id(worker, f"worker_ids.{index}")
        outcome: dict[str, NotifyResult] = {}
        sent_any = False
        for chunk in chunked(workers, check.MAX_NOTIFY_WORKERS):
            try:
                answer = self.client.notify_workers(
                    Subject=subject, MessageText=body, WorkerIds=chunk
                )
            except Exception as exc:
                error = translate(exc, "NotifyWorkers") if _botocore(exc) else None
                if error is None:
                    raise
                if not sent_any and not _maybe_delivered(exc):
                    raise error from exc
                problem = error.message
                if _maybe_delivered(exc):
                    problem += " (MTurk may have delivered it: check before sending again)"
                failed_call(
                    outcome,
                    chunk,
                    workers,
                    problem=problem,
                    platform_code=error.platform_code or "",
                    message=error.message,
                )
                break
            sent_any = True
            for failure in answer.get("NotifyWorkersFailureStatuses", []):
                worker = failure.get("WorkerId", "")
                outcome[worker] = NotifyResult(
                    worker,
                    ok=False,
                    problem=failure.get("NotifyWorkersFailureMessage", ""),
                    platform_code=failure.get("NotifyWorkersFailureCode", ""),
                )
            for worker in chunk:
                outcome.setdefault(worker, NotifyResult(worker, ok=True))
        return [outcome[worker] for worker in workers]

    # --- qualifications ---------------------------------------------------------------

    def create_qualification_type(self, name: str, description: str) -> QualificationType:
        """A new Active type; if a retry finds MTurk already made it, that type."""
        check.text(name, "name", maximum=check.MAX_QUALIFICATION_NAME)
        check.text(description, "description", maximum=check.MAX_DESCRIPTION)
        try:
            with mturk_call("CreateQualificationType"):
                answer = self.client.create_qualification_type(
                    Name=name, Description=description, QualificationTypeStatus="Active"
                )
        except PlatformRejected:
            # Names are unique per requester: MTurk refuses a second type of the same
            # name, which is also what a retried creation that did commit runs into.
            found = self.find_qualification_type(name)
            if found is None:
                raise
            return found
        return qualification_type(answer["QualificationType"])

    def find_qualification_type(self, name: str) -> QualificationType | None:
        check.text(name, "name", maximum=check.MAX_QUALIFICATION_NAME)
        pages = self.client.get_paginator("list_qualification_types").paginate(
            Query=name,
            MustBeRequestable=False,
            MustBeOwnedByCaller=True,
            PaginationConfig=_PAGE,
        )
        with mturk_call("ListQualificationTypes"):
            for page in pages:
                for found in page.get("QualificationTypes", []):
                    if found.get("Name") == name:
                        return qualification_type(found)
        return None

    def grant_qualification(
        self, type_id: str, worker_id: str, value: int = 1, *, notify: bool = False
    ) -> None:
        check.entity_id(type_id, "type_id")
        check.worker_id(worker_id)
        with mturk_call("AssociateQualificationWithWorker"):
            self.client.associate_qualification_with_worker(
                QualificationTypeId=type_id,
                WorkerId=worker_id,
                IntegerValue=int(value),
                SendNotification=bool(notify),
            )

    def revoke_qualification(self, type_id: str, worker_id: str, reason: str = "") -> None:
        check.entity_id(type_id, "type_id")
        check.worker_id(worker_id)
        check.text(reason, "reason", maximum=check.MAX_MESSAGE, required=False)
        params: dict[str, Any] = {"QualificationTypeId": type_id, "WorkerId": worker_id}
        if reason:
            params["Reason"] = reason
        with mturk_call("DisassociateQualificationFromWorker"):
            self.client.disassociate_qualification_from_worker(**params)

    def list_qualified(self, type_id: str) -> Iterator[QualificationGrant]:
        check.entity_id(type_id, "type_id")
        return self._qualified(type_id)

    def _qualified(self, type_id: str) -> Iterator[QualificationGrant]:
        pages = self.client.get_paginator("list_workers_with_qualification_type").paginate(
            QualificationTypeId=type_id, Status="Granted", PaginationConfig=_PAGE
        )
        with mturk_call("ListWorkersWithQualificationType"):
            for page in pages:
                for grant in page.get("Qualifications", []):
                    yield QualificationGrant(
                        worker_id=grant["WorkerId"],
                        value=int(grant.get("IntegerValue", 1)),
                        granted_at=utc(grant.get("GrantTime")),
                    )

    # --- postings ---------------------------------------------------------------------

    def create_posting(self, request: PostingRequest) -> Posting:
        """Create an ExternalQuestion HIT; a repeat of the same ``unique_token`` gives that HIT."""
        params = hit_params(request)
        try:
            with mturk_call("CreateHIT"):
                answer = self.client.create_hit(**params)
        except PlatformRejected as exc:
            # MTurk names the HIT a used token already created; that HIT is the answer.
            found = _HIT_ID_IN_MESSAGE.search(exc.message)
            if exc.platform_code not in DUPLICATE_CODES or found is None:
                raise
            return self.get_posting(found.group(1))
        return posting(answer["HIT"])

    def get_posting(self, posting_id: str) -> Posting:
        check.entity_id(posting_id, "posting_id")
        with mturk_call("GetHIT"):
            answer = self.client.get_hit(HITId=posting_id)
        return posting(answer["HIT"])

    def extend_posting(
        self, posting_id: str, *, add_assignments: int = 0, expires_at: datetime | None = None
    ) -> None:
        check.entity_id(posting_id, "posting_id")
        if not isinstance(add_assignments, int) or add_assignments < 0:
            raise check.refuse("add_assignments", f"must be 0 or more, got {add_assignments!r}")
        if expires_at is not None and expires_at.tzinfo is None:
            raise check.refuse("expires_at", "must carry a time zone")
        if add_assignments == 0 and expires_at is None:
            raise check.refuse("add_assignments", "give assignments to add or a new expiry")
        if add_assignments:
            try:
                with mturk_call("CreateAdditionalAssignmentsForHIT"):
                    self.client.create_additional_assignments_for_hit(
                        HITId=posting_id,
                        NumberOfAdditionalAssignments=add_assignments,
                        # The same token on botocore's own retries: added once.
                        UniqueRequestToken=uuid.uuid4().hex,
                    )
            except PlatformRejected as exc:
                if exc.platform_code not in DUPLICATE_CODES:
                    raise
        if expires_at is not None:
            with mturk_call("UpdateExpirationForHIT"):
                self.client.update_expiration_for_hit(HITId=posting_id, ExpireAt=expires_at)

    def expire_posting(self, posting_id: str) -> None:
        """Stop new workers taking the HIT now; submitted work stays reviewable."""
        check.entity_id(posting_id, "posting_id")
        with mturk_call("UpdateExpirationForHIT"):
            # MTurk's documented way to expire at once: a time in the past (epoch 0).
            self.client.update_expiration_for_hit(
                HITId=posting_id, ExpireAt=datetime(1970, 1, 1, tzinfo=UTC)
            )


def _notify_retry_guard(
    response: Any = None, caught_exception: Exception | None = None, **_: Any
) -> bool | None:
    """Stop botocore retrying a NotifyWorkers that may have been carried out.

    A 5xx or an answer lost after sending may follow a delivered message, and
    NotifyWorkers has no token to make a second send harmless. Returning False
    (not None) tells botocore not to retry; throttling still is.
    """
    if caught_exception is not None:
        return False if _maybe_delivered(caught_exception) else None
    if response is not None and response[0].status_code >= 500:
        return False
    return None


def _maybe_delivered(exc: BaseException) -> bool:
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return status >= 500 and code not in THROTTLING_CODES
    return False


def _botocore(exc: BaseException) -> bool:
    return isinstance(exc, ClientError | BotoCoreError)
