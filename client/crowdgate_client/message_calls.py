"""Messages to a study's workers: a plan first (nothing is sent), then a job that sends
each worker the message at most once.

``Client`` has the methods; ``client.messages`` offers them as ``plan``, ``send``,
``list`` and ``recipients`` for scripts that read better that way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from crowdgate_client._endpoints import covers, expand, json_object, paginate
from crowdgate_client._http import Transport
from crowdgate_client.message_models import Message, MessagePlan, MessageRecipient
from crowdgate_client.models import Status
from crowdgate_client.platform_models import Job

MESSAGES = "/studies/{slug}/messages"
RECIPIENTS = "/studies/{slug}/messages/{message_id}/recipients"
RecipientState = Literal["pending", "sending", "sent", "failed"]
Outcome = Literal["sent", "soft_failure", "hard_failure", "unclear"]


def _body(
    subject: str,
    body: str,
    *,
    worker_ids: Iterable[str] | None,
    status: Status | Iterable[Status] | None,
    condition: str | None,
    key: str | None,
) -> dict[str, Any]:
    if worker_ids is None and status is None and condition is None:
        raise TypeError("choose the workers: worker_ids, or status and/or condition")
    if worker_ids is not None and (status is not None or condition is not None):
        raise TypeError("give worker_ids, or status and/or condition, not both")
    request: dict[str, Any] = {"subject": subject, "body": body}
    if worker_ids is not None:
        if isinstance(worker_ids, str):
            raise TypeError("worker_ids is a list of worker ids, e.g. ['A1EXAMPLE']")
        request["worker_ids"] = list(worker_ids)
    if status is not None:
        request["status"] = [status] if isinstance(status, str) else list(status)
    if condition is not None:
        request["condition"] = condition
    if key is not None:
        request["key"] = key
    return request


class MessageCalls:
    """Mixed into ``Client``; needs its ``_transport``, ``_job_started`` and
    ``wait_for_job``."""

    _transport: Transport
    _job_started: Callable[..., Job]
    wait_for_job: Callable[..., Job]

    @covers(f"POST {MESSAGES}")
    def plan_message(
        self,
        slug: str,
        subject: str,
        body: str,
        *,
        worker_ids: Iterable[str] | None = None,
        status: Status | Iterable[Status] | None = None,
        condition: str | None = None,
        key: str | None = None,
    ) -> MessagePlan:
        """Whom sending would message now, whom it reached before, and which named workers
        are refused; sends nothing.

        Choose the workers by ``worker_ids``, or by ``status`` (one or several) and/or
        ``condition``. The same subject and body (or the same ``key``) is the same
        message: workers it reached before are not counted again.
        """
        request = _body(
            subject, body, worker_ids=worker_ids, status=status, condition=condition, key=key
        )
        response = self._transport.request(
            "POST", expand(MESSAGES, slug=slug), json={**request, "dry_run": True}
        )
        return MessagePlan.from_json(json_object(response))

    @covers(f"POST {MESSAGES}")
    def send_message(
        self,
        slug: str,
        subject: str,
        body: str,
        *,
        worker_ids: Iterable[str] | None = None,
        status: Status | Iterable[Status] | None = None,
        condition: str | None = None,
        key: str | None = None,
        confirm: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Send the message (``confirm="live"`` in live mode); returns the job, finished if
        ``wait``. Its ``counts`` say how many were sent, soft_failure, hard_failure,
        unclear and unsent. Sending the same message again reaches only the workers it
        has not reached; nobody is sent it twice."""
        request = _body(
            subject, body, worker_ids=worker_ids, status=status, condition=condition, key=key
        )
        request["dry_run"] = False
        if confirm is not None:
            request["confirm"] = confirm
        job = self._job_started("POST", expand(MESSAGES, slug=slug), request)
        if wait and not job.finished:
            return self.wait_for_job(job, timeout=timeout, on_progress=on_progress)
        return job

    @covers(f"GET {MESSAGES}")
    def list_messages(self, slug: str, *, page_size: int = 100) -> Iterator[Message]:
        """The study's messages, oldest first, each with its recipients counted."""
        return paginate(
            lambda query: json_object(
                self._transport.request("GET", expand(MESSAGES, slug=slug), params=query)
            ),
            {"limit": page_size},
            Message.from_json,
        )

    @covers(f"GET {RECIPIENTS}")
    def message_recipients(
        self,
        slug: str,
        message_id: int,
        *,
        state: RecipientState | None = None,
        outcome: Outcome | None = None,
        page_size: int = 100,
    ) -> Iterator[MessageRecipient]:
        """A message's recipients, oldest first (optionally in one state or outcome)."""
        params: dict[str, Any] = {"limit": page_size}
        if state is not None:
            params["state"] = state
        if outcome is not None:
            params["outcome"] = outcome
        path = expand(RECIPIENTS, slug=slug, message_id=str(message_id))
        return paginate(
            lambda query: json_object(self._transport.request("GET", path, params=query)),
            params,
            MessageRecipient.from_json,
        )

    @property
    def messages(self) -> Messages:
        """``plan``, ``send``, ``list`` and ``recipients`` for one client."""
        return Messages(self)


class Messages:
    """``client.messages.plan(...)``, ``.send(...)``, ``.list(...)``, ``.recipients(...)``."""

    def __init__(self, calls: MessageCalls) -> None:
        self.plan = calls.plan_message
        self.send = calls.send_message
        self.list = calls.list_messages
        self.recipients = calls.message_recipients
