"""What a survey page does, from Python: start, state, complete, verify, eligibility.

``SurveyClient`` calls the survey endpoints of one study with its survey key, exactly
as a jsPsych page would, so a pilot or a test of a survey's logic needs no browser.
The module-level functions are the calls themselves; ``Client`` uses them too,
since an admin key may call every survey endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from crowdgate_client._endpoints import covers, expand, json_object
from crowdgate_client._http import Closing, Transport
from crowdgate_client.config import (
    API_KEY_VARIABLE,
    SURVEY_KEY_VARIABLE,
    URL_VARIABLE,
    ConfigurationError,
    normalise_base_url,
    resolve_setting,
)
from crowdgate_client.models import CompletionResult, Eligibility, StartResult, State, VerifyResult

__all__ = [
    "SurveyClient",
    "complete",
    "eligibility",
    "get_state",
    "start",
    "verify",
    "write_state",
]

START = "/studies/{slug}/participants/{worker_id}/start"
STATE = "/studies/{slug}/participants/{worker_id}/state"
COMPLETE = "/studies/{slug}/participants/{worker_id}/complete"
VERIFY = "/studies/{slug}/codes/verify"
ELIGIBILITY = "/studies/{slug}/eligibility"


def _given(**values: str | None) -> dict[str, str]:
    # Only what the caller gave, so the request carries nothing the caller did not say.
    return {name: value for name, value in values.items() if value is not None}


def start(
    transport: Transport,
    slug: str,
    worker_id: str,
    *,
    assignment_id: str | None = None,
    hit_id: str | None = None,
    session_id: str | None = None,
    study_id: str | None = None,
    submission_id: str | None = None,
) -> StartResult:
    """Start or resume a worker; the service assigns a condition on the first start.

    ``study_id`` and ``submission_id`` are Prolific's STUDY_ID and SESSION_ID, sent under
    those names: the service takes them as ``hit_id`` and ``assignment_id``.
    """
    body = _given(
        assignment_id=assignment_id,
        hit_id=hit_id,
        session_id=session_id,
        STUDY_ID=study_id,
        SESSION_ID=submission_id,
    )
    response = transport.request("POST", expand(START, slug=slug, worker_id=worker_id), json=body)
    return StartResult.from_json(json_object(response))


def get_state(transport: Transport, slug: str, worker_id: str) -> State:
    """The worker's free-form state."""
    response = transport.request("GET", expand(STATE, slug=slug, worker_id=worker_id))
    return State.from_json(json_object(response))


def write_state(
    transport: Transport, slug: str, worker_id: str, values: Mapping[str, Any], *, merge: bool
) -> State:
    """Replace the state (PUT), or merge top-level keys into it (PATCH; None removes a key)."""
    response = transport.request(
        "PATCH" if merge else "PUT",
        expand(STATE, slug=slug, worker_id=worker_id),
        json=dict(values),
    )
    return State.from_json(json_object(response))


def complete(transport: Transport, slug: str, worker_id: str) -> CompletionResult:
    """Mark the worker complete; every call returns the same completion code."""
    response = transport.request("POST", expand(COMPLETE, slug=slug, worker_id=worker_id))
    return CompletionResult.from_json(json_object(response))


def verify(
    transport: Transport, slug: str, code: str, worker_id: str | None = None
) -> VerifyResult:
    """Check a completion code, against ``worker_id`` if given."""
    # GET, not POST: a check changes nothing, so it needs no idempotency key to retry.
    response = transport.request(
        "GET", expand(VERIFY, slug=slug), params=_given(code=code, worker_id=worker_id)
    )
    return VerifyResult.from_json(json_object(response))


def eligibility(
    transport: Transport, slug: str, worker_id: str, assignment_id: str | None = None
) -> Eligibility:
    """Whether a start by this worker (on this assignment, if given) would be accepted."""
    response = transport.request(
        "GET",
        expand(ELIGIBILITY, slug=slug),
        params=_given(worker_id=worker_id, assignment_id=assignment_id),
    )
    return Eligibility.from_json(json_object(response))


class SurveyClient(Closing):
    """One study's survey endpoints, called as a survey page calls them.

    ``base_url`` defaults to ``CROWDGATE_URL``. The key is ``survey_key`` (sent as
    ``X-Survey-Key``), else ``api_key`` (an admin key, sent as a Bearer token),
    else ``CROWDGATE_SURVEY_KEY``, else ``CROWDGATE_API_KEY``. Use it as a context
    manager, or call ``close()``, to release its connections.
    """

    def __init__(
        self,
        base_url: str | None = None,
        study: str | None = None,
        survey_key: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        session: requests.Session | None = None,
    ) -> None:
        if not study:
            raise ConfigurationError("No study given: pass study='the-study-slug'.")
        url = normalise_base_url(resolve_setting(base_url, URL_VARIABLE, argument="base_url"))
        self.study = study
        self._transport = Transport(
            url,
            headers=_key_headers(survey_key, api_key),
            timeout=timeout,
            retries=retries,
            session=session,
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def __repr__(self) -> str:
        return f"SurveyClient(base_url={self.base_url!r}, study={self.study!r})"

    @covers(f"POST {START}", f"GET {START}")
    def start(
        self,
        worker_id: str,
        *,
        assignment_id: str | None = None,
        hit_id: str | None = None,
        session_id: str | None = None,
        study_id: str | None = None,
        submission_id: str | None = None,
    ) -> StartResult:
        """Start or resume ``worker_id``; the answer says their condition and attempt.

        Starting again (a reload) resumes with ``resumed=True``; a worker who already
        took part, on a new assignment, gets ConflictError (``already_participated``)
        unless the study allows repeats. On Prolific, pass the URL's STUDY_ID as
        ``study_id`` and SESSION_ID as ``submission_id`` (``session_id`` is crowdgate's
        own, unrelated field).
        """
        return start(
            self._transport,
            self.study,
            worker_id,
            assignment_id=assignment_id,
            hit_id=hit_id,
            session_id=session_id,
            study_id=study_id,
            submission_id=submission_id,
        )

    @covers(f"GET {STATE}")
    def state(self, worker_id: str) -> State:
        """The worker's saved state (a read-only mapping)."""
        return get_state(self._transport, self.study, worker_id)

    @covers(f"PUT {STATE}")
    def put_state(self, worker_id: str, state: Mapping[str, Any]) -> State:
        """Replace the worker's whole state with ``state``; returns the new state."""
        return write_state(self._transport, self.study, worker_id, state, merge=False)

    @covers(f"PATCH {STATE}")
    def patch_state(self, worker_id: str, changes: Mapping[str, Any]) -> State:
        """Merge ``changes`` into the worker's state (a None value removes its key)."""
        return write_state(self._transport, self.study, worker_id, changes, merge=True)

    @covers(f"POST {COMPLETE}")
    def complete(self, worker_id: str) -> CompletionResult:
        """Complete the worker and get their completion code (the same on every call)."""
        return complete(self._transport, self.study, worker_id)

    @covers(f"GET {VERIFY}", f"POST {VERIFY}")
    def verify(self, worker_id: str, code: str) -> VerifyResult:
        """Whether ``code`` is ``worker_id``'s own completion code.

        Lower case, spaces and dashes in ``code`` are forgiven, as the service does.
        """
        return verify(self._transport, self.study, code, worker_id)

    @covers(f"GET {ELIGIBILITY}")
    def eligibility(self, worker_id: str, *, assignment_id: str | None = None) -> Eligibility:
        """Whether ``worker_id`` may start (on ``assignment_id``, if given)."""
        return eligibility(self._transport, self.study, worker_id, assignment_id)

    def close(self) -> None:
        """Release the connections (a session passed in stays open: it is the caller's)."""
        self._transport.close()


def _key_headers(survey_key: str | None, api_key: str | None) -> dict[str, str]:
    """The header carrying the first key found, in the order SurveyClient documents."""
    survey_key = survey_key or (None if api_key else _environ(SURVEY_KEY_VARIABLE))
    if survey_key:
        return {"X-Survey-Key": survey_key}
    admin_key = api_key or _environ(API_KEY_VARIABLE)
    if admin_key:
        return {"Authorization": f"Bearer {admin_key}"}
    raise ConfigurationError(
        "No survey_key given: pass survey_key=... (or an admin key as api_key=...), "
        f"or set {SURVEY_KEY_VARIABLE} (or {API_KEY_VARIABLE})."
    )


def _environ(variable: str) -> str | None:
    return os.environ.get(variable, "").strip() or None
