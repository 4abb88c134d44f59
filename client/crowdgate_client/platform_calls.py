"""``Client``'s calls that go through a study's platform: sync, review, HITs, balance, jobs.

Kept apart from the study and participant calls so each module stays one concern;
``Client`` inherits them. Operations that change things on the platform are dry runs
unless ``dry_run=False`` is passed, and live studies need ``confirm="live"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from crowdgate_client._endpoints import covers, expand, json_object
from crowdgate_client._http import Transport
from crowdgate_client.platform_models import Balance, Hit, HitPlan, Job, ReviewPlan

JOB = "/jobs/{job_id}"
JOB_CANCEL = "/jobs/{job_id}/cancel"
SYNC = "/studies/{slug}/sync"
REVIEW = "/studies/{slug}/review"
RECONCILE = "/reconcile"
HITS = "/studies/{slug}/hits"
HIT_EXTEND = "/studies/{slug}/hits/{hit_id}/extend"
HIT_EXPIRE = "/studies/{slug}/hits/{hit_id}/expire"
BALANCE = "/account/balance"

UploadFile = str | Path | IO[bytes]


class PlatformCalls:
    """Mixed into ``Client``; needs its ``_transport``."""

    _transport: Transport

    # --- jobs -------------------------------------------------------------------------

    @covers(f"GET {JOB}")
    def get_job(self, job_id: str) -> Job:
        """A job's state and counts (``.finished`` once it succeeded, failed or was cancelled)."""
        response = self._transport.request("GET", expand(JOB, job_id=job_id))
        return Job.from_json(json_object(response), self)

    @covers(f"POST {JOB_CANCEL}")
    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one before its next batch (its
        ``cancel_requested`` is then true until it ends 'cancelled'); ConflictError once it
        has finished."""
        response = self._transport.request("POST", expand(JOB_CANCEL, job_id=job_id))
        return Job.from_json(json_object(response), self)

    def wait_for_job(
        self,
        job: Job | str,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[Job], object] | None = None,
    ) -> Job:
        """Poll until the job finishes (or ``timeout`` seconds pass: TimeoutError)."""
        job_id = job.job_id if isinstance(job, Job) else job
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.get_job(job_id)
            if on_progress is not None:
                on_progress(current)
            if current.finished:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {current.state} after {timeout} s")
            time.sleep(poll)

    def _job_started(self, method: str, path: str, body: Mapping[str, Any]) -> Job:
        data = json_object(self._transport.request(method, path, json=dict(body)))
        return Job.from_json(data.get("job") or data, self)

    # --- sync and review --------------------------------------------------------------

    @covers(f"POST {SYNC}")
    def sync(self, slug: str, *, wait: bool = True, timeout: float | None = None) -> Job:
        """Pull every submission on the study's HITs into the record.

        Returns the job; with ``wait`` (the default) once it has finished.
        """
        job = self._job_started("POST", expand(SYNC, slug=slug), {})
        return self.wait_for_job(job, timeout=timeout) if wait and not job.finished else job

    @covers(f"POST {REVIEW}")
    def review(
        self,
        slug: str,
        *,
        dry_run: bool = True,
        feedback: str = "",
        reject_invalid: bool = False,
        reject_feedback: str | None = None,
        rejection_category: str | None = None,
        confirm: str | None = None,
        wait: bool = True,
    ) -> ReviewPlan | Job:
        """The review plan of a synced study (a dry run), or, with ``dry_run=False``, the job
        that applies it: approvals with ``feedback``, rejections only with
        ``reject_invalid=True`` and a ``reject_feedback`` (and, on Prolific, a
        ``rejection_category`` such as ``"BAD_CODE"``); ``confirm="live"`` in live mode.
        """
        body: dict[str, Any] = {
            "dry_run": dry_run,
            "feedback": feedback,
            "reject_invalid": reject_invalid,
        }
        if reject_feedback is not None:
            body["reject_feedback"] = reject_feedback
        if rejection_category is not None:
            body["rejection_category"] = rejection_category
        if confirm is not None:
            body["confirm"] = confirm
        path = expand(REVIEW, slug=slug)
        if dry_run:
            return ReviewPlan.from_json(
                json_object(self._transport.request("POST", path, json=body))
            )
        job = self._job_started("POST", path, body)
        return self.wait_for_job(job) if wait and not job.finished else job

    def review_plan_csv(self, slug: str) -> str:
        """The dry-run plan as CSV, to read in a spreadsheet."""
        response = self._transport.request(
            "POST",
            expand(REVIEW, slug=slug),
            json={"dry_run": True, "format": "csv"},
            headers={"Accept": "text/csv"},
        )
        return response.text

    @covers(f"POST {RECONCILE}")
    def reconcile_files(
        self,
        batch: UploadFile,
        survey: UploadFile,
        *,
        code_column: str,
        worker_column: str | None = None,
        batch_code_column: str = "Answer.surveycode",
    ) -> ReviewPlan:
        """Match an MTurk batch results CSV against a survey export, without any platform call.

        ``code_column`` (and ``worker_column``) name the survey file's columns; Qualtrics'
        three header rows are understood.
        """
        form = {"code_column": code_column, "batch_code_column": batch_code_column}
        if worker_column is not None:
            form["worker_column"] = worker_column
        # Read whole so that a retry can send them again: results files are small.
        files = {
            "batch": ("batch.csv", _read(batch), "text/csv"),
            "survey": ("survey.csv", _read(survey), "text/csv"),
        }
        response = self._transport.request("POST", RECONCILE, data=form, files=files)
        return ReviewPlan.from_json(json_object(response))

    # --- HITs and the account ---------------------------------------------------------

    @covers(f"GET {HITS}")
    def hits(self, slug: str) -> list[Hit]:
        """The study's HITs with their counts as the platform reports them now."""
        data = json_object(self._transport.request("GET", expand(HITS, slug=slug)))
        return [Hit.from_json(item) for item in data.get("items", ())]

    @covers(f"POST {HITS}")
    def create_hit(
        self,
        slug: str,
        *,
        title: str,
        description: str,
        reward: Decimal | str,
        assignments: int,
        survey_url: str | None = None,
        keywords: str = "",
        micro_batches: bool = False,
        min_approval_rate: int | None = None,
        locales: Iterable[str] | None = None,
        exclude_qualification_type_ids: Iterable[str] | None = None,
        options: Mapping[str, Any] | None = None,
        dry_run: bool = True,
        confirm: str | None = None,
    ) -> HitPlan:
        """Preview (the default) or create the study's HIT(s): cost, fee, balance first.

        ``options`` passes further fields of the API as they are (durations in seconds,
        frame height...). With ``micro_batches=True`` the assignments are split into HITs
        of at most 9, which keeps MTurk's fee at 20%.
        """
        body: dict[str, Any] = {
            "title": title,
            "description": description,
            "reward": f"{Decimal(str(reward)):.2f}",
            "assignments": assignments,
            "keywords": keywords,
            "micro_batches": micro_batches,
            "dry_run": dry_run,
            **dict(options or {}),
        }
        optional = {
            "survey_url": survey_url,
            "min_approval_rate": min_approval_rate,
            "locales": list(locales) if locales is not None else None,
            "exclude_qualification_type_ids": (
                list(exclude_qualification_type_ids)
                if exclude_qualification_type_ids is not None
                else None
            ),
            "confirm": confirm,
        }
        body.update({name: value for name, value in optional.items() if value is not None})
        response = self._transport.request("POST", expand(HITS, slug=slug), json=body)
        return HitPlan.from_json(json_object(response))

    @covers(f"POST {HIT_EXTEND}")
    def extend_hit(
        self,
        slug: str,
        hit_id: str,
        *,
        add_assignments: int = 0,
        expires_at: datetime | None = None,
        confirm: str | None = None,
    ) -> Hit:
        """Add assignments to one of the study's HITs and/or push its expiry later."""
        body: dict[str, Any] = {"add_assignments": add_assignments}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        if confirm is not None:
            body["confirm"] = confirm
        response = self._transport.request(
            "POST", expand(HIT_EXTEND, slug=slug, hit_id=hit_id), json=body
        )
        return Hit.from_json(json_object(response))

    @covers(f"POST {HIT_EXPIRE}")
    def expire_hit(self, slug: str, hit_id: str) -> Hit:
        """Expire one of the study's HITs now; workers already on it may still submit."""
        response = self._transport.request("POST", expand(HIT_EXPIRE, slug=slug, hit_id=hit_id))
        return Hit.from_json(json_object(response))

    @covers(f"GET {BALANCE}")
    def balance(self, platform: str = "mturk", mode: str = "sandbox") -> Balance:
        """The platform account's available balance."""
        response = self._transport.request(
            "GET", BALANCE, params={"platform": platform, "mode": mode}
        )
        return Balance.from_json(json_object(response))


def _read(source: UploadFile) -> bytes:
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    return source.read()


__all__ = ["PlatformCalls"]
