"""What every platform adapter provides; the rest of crowdgate speaks only to this.

``Platform`` is the stateless description (ids, fees) that validation needs;
``Platform.connect`` gives a ``PlatformClient`` for one mode (sandbox or live) that
makes the calls. Nothing outside ``platforms/`` imports a platform's SDK or asks
which platform a study uses: it asks the client, and a platform without the
capability raises ``NotSupported`` saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

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


@dataclass(frozen=True)
class PlatformSettings:
    """How to reach a platform; read from CROWDGATE_* settings by the caller.

    ``endpoint_url`` points the client elsewhere (an emulator); ``max_attempts`` is
    the retry budget per call; ``rate_limit`` caps the client's requests per second
    (None: no cap but the platform's own throttling); ``client`` is a ready SDK client
    (a boto3 MTurk client, a requests Session) that tests hand over, pointed at an
    emulator.
    """

    endpoint_url: str | None = None
    max_attempts: int = 5
    timeout: float = 30.0
    rate_limit: float | None = None
    client: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)


class Platform:
    """A crowd-work platform, as crowdgate sees it."""

    name: ClassVar[str]
    #: What a worker id looks like on this platform, in words for error messages.
    worker_id_description: ClassVar[str]
    worker_id_pattern: ClassVar[re.Pattern[str]]
    #: The currency of rewards, bonuses and the balance (ISO 4217).
    currency: ClassVar[str] = "USD"
    #: The platform's own qualifications by crowdgate's name for them ("approval_rate").
    system_qualifications: ClassVar[Mapping[str, str]] = {}
    #: The answer field a submission keeps the entered completion code under, for
    #: studies created without naming one.
    code_answer_field: ClassVar[str] = "surveycode"
    #: Whether a study may carry its own API token and workspace instead of the account
    #: crowdgate's settings name (a lab with several accounts or workspaces).
    study_accounts: ClassVar[bool] = False

    def validate_worker_id(self, worker_id: str) -> str | None:
        """Return a problem with ``worker_id`` in words, or None when it fits."""
        if not self.worker_id_pattern.fullmatch(worker_id):
            return f"is not a valid {self.name} worker id: expected {self.worker_id_description}"
        return None

    def posting_fee(self, reward: Decimal, assignments: int) -> Decimal:
        """The platform's commission on ``assignments`` payments of ``reward`` each."""
        raise NotSupported(f"Studies on {self.name!r} have no postings to pay for.")

    def bonus_fee(self, amount: Decimal) -> Decimal:
        """The platform's commission on one bonus of ``amount``."""
        raise NotSupported(f"Studies on {self.name!r} cannot pay bonuses through crowdgate.")

    def check_message(self, subject: str, body: str) -> None:
        """Refuse (ValidationFailed naming the field) a message the platform would not
        take, before anyone is sent it; NotSupported if it cannot message workers."""
        raise NotSupported(f"Studies on {self.name!r} cannot message workers through crowdgate.")

    def check_rejection(
        self,
        feedback: str,
        field: str = "feedback",
        category: str | None = None,
        category_field: str = "category",
    ) -> None:
        """Refuse (ValidationFailed naming ``field`` or ``category_field``) a rejection
        message or category the platform would not take, before any submission is
        reviewed. Platforms without rejection categories ignore ``category``."""

    def completion_url(self, completion_code: str) -> str | None:
        """Where a participant who finished goes to report ``completion_code`` (the
        platform's code for the study), when the platform has such a page."""
        return None

    def worker_url(self, mode: str, posting: Posting) -> str | None:
        """Where workers find ``posting``, when the platform has such a page."""
        return None

    def connect(self, mode: str, settings: PlatformSettings) -> PlatformClient:
        """A client for ``mode`` ("sandbox" or "live")."""
        raise NotSupported(f"Studies on {self.name!r} have no platform to call.")


class PlatformClient:
    """Calls to one platform in one mode. Every method may raise PlatformError.

    The defaults refuse with NotSupported, so an adapter implements what its platform
    has and the refusal names the platform and the capability.
    """

    platform: ClassVar[str]
    #: The currency of amounts the client sends and reads (ISO 4217).
    currency: str = "USD"
    #: How bonuses are paid. "each": ``send_bonus``, one call per bonus, whose token
    #: makes a repeat the same payment. "batch": ``set_up_bonuses`` for many, then one
    #: ``pay_bonuses`` that is NOT idempotent: the ledger records the pay before it is
    #: sent and settles an unclear one from ``list_bonuses``, never by paying again.
    bonus_payment: ClassVar[str] = "each"
    #: How long a batch's payments may take to show in ``list_bonuses`` after its pay
    #: was accepted (the platform pays asynchronously); until then, not finding them
    #: does not mean they were not paid.
    pay_settle_seconds: float = 0.0

    def close(self) -> None:
        """Release connections (the app's clients are closed when it shuts down)."""

    def _unsupported(self, what: str) -> NotSupported:
        return NotSupported(f"{self.platform!r} cannot {what}.")

    # --- submissions ------------------------------------------------------------------

    def list_submissions(self, posting_ids: Sequence[str]) -> Iterator[Submission]:
        """Every submission on the postings, following every page."""
        raise self._unsupported("list submissions")

    def get_submission(self, assignment_id: str) -> Submission | None:
        """One submission by its id, whichever posting it is on; None while it is not
        a submission yet (a place still held or under way)."""
        raise self._unsupported("read a submission by its id")

    #: Whether ``get_posting`` tells the posting's completion codes, which sync then
    #: takes as a study's ``platform_completion_code`` when it names none.
    posting_completion_codes: ClassVar[bool] = False
    #: Submissions ``approve_many`` takes in one call; 0: the platform approves one at
    #: a time.
    bulk_approve_size: ClassVar[int] = 0

    def approve(self, assignment_id: str, feedback: str = "") -> None:
        """Approve one submission. Approving an approved one again is not an error."""
        raise self._unsupported("approve submissions")

    def approve_many(self, assignment_ids: Sequence[str]) -> None:
        """Approve submissions together (at most ``bulk_approve_size``); approved ones
        among them are not an error. Raises when any is refused, or on no answer."""
        raise self._unsupported("approve submissions together")

    def reject(self, assignment_id: str, feedback: str, *, category: str | None = None) -> None:
        """Reject one submission; ``category`` is the platform's reason code, where it
        has them (ignored elsewhere; None is the platform's default)."""
        raise self._unsupported("reject submissions")

    # --- money ------------------------------------------------------------------------

    def balance(self) -> Decimal:
        raise self._unsupported("report an account balance")

    def send_bonus(
        self,
        worker_id: str,
        assignment_id: str | None,
        amount: Decimal,
        reason: str,
        *,
        token: str,
    ) -> None:
        """Pay one bonus; ``token`` makes a repeat of the same payment a no-op where it can."""
        raise self._unsupported("pay bonuses")

    def set_up_bonuses(self, posting_id: str, lines: Sequence[BonusLine]) -> BonusBatch:
        """Set up (without paying) bonuses for submissions of one posting; a batch set
        up and never paid costs nothing. Raises PlatformRejected naming the refused
        lines' problem, when the platform refuses any."""
        raise self._unsupported("set up bonuses in batches")

    def pay_bonuses(self, batch_id: str) -> None:
        """Pay a batch set up by ``set_up_bonuses``. Calling it twice pays twice."""
        raise self._unsupported("pay bonuses in batches")

    def list_bonuses(
        self, *, posting_id: str | None = None, assignment_id: str | None = None
    ) -> Iterator[BonusPayment]:
        """Bonuses paid on a posting or to one submission. A platform that does not
        keep bonus reasons answers "" as each one's reason."""
        raise self._unsupported("list bonuses")

    # --- messages ---------------------------------------------------------------------

    #: Whether ``notify`` needs the posting the workers took part in (Prolific messages
    #: are about one study); workers with none recorded cannot be messaged.
    notify_needs_posting: ClassVar[bool] = False

    def notify(
        self,
        worker_ids: Sequence[str],
        subject: str,
        body: str,
        *,
        posting_id: str | None = None,
    ) -> list[NotifyResult]:
        """Message the workers; one result per worker, in their order. ``posting_id``
        is the posting they took part in, for platforms whose messages are about one
        (MTurk ignores it).

        Raises only when nothing can have been sent; once a message may have gone out,
        failures are reported per worker instead."""
        raise self._unsupported("message workers")

    # --- qualifications ---------------------------------------------------------------

    def create_qualification_type(self, name: str, description: str) -> QualificationType:
        raise self._unsupported("create qualification types")

    def find_qualification_type(self, name: str) -> QualificationType | None:
        """The requester's own qualification type with exactly this name, if any."""
        raise self._unsupported("look up qualification types")

    def grant_qualification(
        self, type_id: str, worker_id: str, value: int = 1, *, notify: bool = False
    ) -> None:
        raise self._unsupported("grant qualifications")

    def revoke_qualification(self, type_id: str, worker_id: str, reason: str = "") -> None:
        raise self._unsupported("revoke qualifications")

    def list_qualified(self, type_id: str) -> Iterator[QualificationGrant]:
        raise self._unsupported("list qualified workers")

    # --- postings ---------------------------------------------------------------------

    def create_posting(self, request: PostingRequest) -> Posting:
        raise self._unsupported("create postings")

    def get_posting(self, posting_id: str) -> Posting:
        raise self._unsupported("read postings")

    def extend_posting(
        self, posting_id: str, *, add_assignments: int = 0, expires_at: datetime | None = None
    ) -> None:
        raise self._unsupported("extend postings")

    def expire_posting(self, posting_id: str) -> None:
        raise self._unsupported("expire postings")


def chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
