"""``Client``: a researcher's admin key over every admin endpoint, from a script or notebook.

Each method is one API operation with typed arguments and a typed answer; lists are
iterators that fetch further pages as they are consumed. ``@covers`` names the
operation(s) each method calls, which a test checks against the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

import requests

from crowdgate_client import survey
from crowdgate_client._endpoints import covers, expand, json_object, paginate
from crowdgate_client._http import Closing, Transport
from crowdgate_client.bonus_calls import BonusCalls
from crowdgate_client.config import (
    API_KEY_VARIABLE,
    URL_VARIABLE,
    normalise_base_url,
    resolve_setting,
)
from crowdgate_client.csv_export import DEFAULT_CHUNK_SIZE, Destination, Progress, write_stream
from crowdgate_client.exclusion_calls import ExclusionCalls
from crowdgate_client.message_calls import MessageCalls
from crowdgate_client.models import (
    CompletionResult,
    Condition,
    CreatedStudy,
    Eligibility,
    Health,
    Mode,
    Participant,
    ParticipantDetail,
    Platform,
    StartResult,
    State,
    Status,
    Study,
    SurveyKey,
    VerifyResult,
)
from crowdgate_client.platform_calls import PlatformCalls
from crowdgate_client.qualification_calls import QualificationCalls

__all__ = ["Client", "Conditions"]

#: Conditions as ``[Condition("short", 50), ...]``, ``[("short", 50), ...]`` or
#: ``{"short": 50, "long": 50}`` (name to target, in order).
Conditions: TypeAlias = Mapping[str, int] | Iterable[Condition | tuple[str, int]]

STUDIES = "/studies"
STUDY = "/studies/{slug}"
SURVEY_KEY = "/studies/{slug}/survey-key"
PARTICIPANTS = "/studies/{slug}/participants"
PARTICIPANTS_CSV = "/studies/{slug}/participants.csv"
PARTICIPANT = "/studies/{slug}/participants/{worker_id}"
DEFAULT_PAGE_SIZE = 100


class Client(PlatformCalls, QualificationCalls, ExclusionCalls, BonusCalls, MessageCalls, Closing):
    """crowdgate's admin API with an admin key.

    ``base_url`` (e.g. ``https://crowdgate.example.edu``) defaults to ``CROWDGATE_URL``
    and ``api_key`` to ``CROWDGATE_API_KEY``. Failed calls are retried ``retries``
    times when that is safe (no answer, 429, 5xx); each request waits at most
    ``timeout`` seconds. A ``session`` passed in is used as is and left open.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        session: requests.Session | None = None,
    ) -> None:
        url = normalise_base_url(resolve_setting(base_url, URL_VARIABLE, argument="base_url"))
        key = resolve_setting(api_key, API_KEY_VARIABLE, argument="api_key")
        self._transport = Transport(
            url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            retries=retries,
            session=session,
        )

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def __repr__(self) -> str:
        # Never the key: reprs end up in notebooks' saved output and in logs.
        return f"Client(base_url={self.base_url!r})"

    def close(self) -> None:
        """Release the connections (a session passed in stays open: it is the caller's)."""
        self._transport.close()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return json_object(self._transport.request("GET", path, params=params))

    # --- the service ------------------------------------------------------------------

    @covers("GET /health")
    def health(self) -> Health:
        """Whether the service answers and can reach its database (``.ok``)."""
        return Health.from_json(self._get("/health"))

    # --- studies ----------------------------------------------------------------------

    @covers(f"GET {STUDIES}")
    def studies(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Study]:
        """Every study, oldest first, fetched ``page_size`` (1 to 1000) at a time."""
        return paginate(
            lambda params: self._get(STUDIES, params), {"limit": page_size}, Study.from_json
        )

    @covers(f"POST {STUDIES}")
    def create_study(
        self,
        slug: str,
        *,
        title: str | None = None,
        platform: Platform | None = None,
        mode: Mode | None = None,
        conditions: Conditions | None = None,
        lease_minutes: int | None = None,
        allow_repeats: bool | None = None,
        allowed_origins: Iterable[str] | None = None,
        hit_ids: Iterable[str] | None = None,
        code_answer_field: str | None = None,
        exclusion_groups: Iterable[str] | None = None,
        include_groups: Iterable[str] | None = None,
        platform_completion_code: str | None = None,
        completion_redirect_url: str | None = None,
        platform_token: str | None = None,
        platform_workspace_id: str | None = None,
    ) -> CreatedStudy:
        """Create a study; what is not given takes the service's default.

        The answer's ``survey_key`` is shown this once: keep it for the survey pages.
        ``platform_completion_code`` (Prolific's study completion code) and
        ``completion_redirect_url`` (a URL template with optional ``{completion_code}``,
        ``{worker_id}`` and ``{study}``) decide where ``complete`` sends participants.
        ``platform_token`` and ``platform_workspace_id`` give the study its own Prolific
        account (the service keeps the token sealed and never shows it again).
        """
        body = {
            "slug": slug,
            **_study_fields(
                title=title,
                platform=platform,
                mode=mode,
                conditions=conditions,
                lease_minutes=lease_minutes,
                allow_repeats=allow_repeats,
                allowed_origins=allowed_origins,
                hit_ids=hit_ids,
                code_answer_field=code_answer_field,
                exclusion_groups=exclusion_groups,
                include_groups=include_groups,
                platform_completion_code=platform_completion_code,
                completion_redirect_url=completion_redirect_url,
                platform_token=platform_token,
                platform_workspace_id=platform_workspace_id,
            ),
        }
        response = self._transport.request("POST", STUDIES, json=body)
        return CreatedStudy.from_json(json_object(response))

    @covers(f"GET {STUDY}")
    def get_study(self, slug: str) -> Study:
        """One study's settings."""
        return Study.from_json(self._get(expand(STUDY, slug=slug)))

    @covers(f"PATCH {STUDY}")
    def update_study(
        self,
        slug: str,
        *,
        title: str | None = None,
        platform: Platform | None = None,
        mode: Mode | None = None,
        conditions: Conditions | None = None,
        lease_minutes: int | None = None,
        allow_repeats: bool | None = None,
        allowed_origins: Iterable[str] | None = None,
        hit_ids: Iterable[str] | None = None,
        code_answer_field: str | None = None,
        exclusion_groups: Iterable[str] | None = None,
        include_groups: Iterable[str] | None = None,
        platform_completion_code: str | None = None,
        completion_redirect_url: str | None = None,
        platform_token: str | None = None,
        platform_workspace_id: str | None = None,
    ) -> Study:
        """Change the fields given (None leaves a field as it is); returns the study.

        ``conditions``, ``hit_ids`` and the group lists each replace the whole list (an
        empty list clears it); an empty ``platform_completion_code`` or
        ``completion_redirect_url``, ``platform_token`` or ``platform_workspace_id``
        clears it (the study then uses the service's own account). The service refuses
        (ConflictError)
        to change the platform once participants have started, or to drop a
        condition participants hold.
        """
        changes = _study_fields(
            title=title,
            platform=platform,
            mode=mode,
            conditions=conditions,
            lease_minutes=lease_minutes,
            allow_repeats=allow_repeats,
            allowed_origins=allowed_origins,
            hit_ids=hit_ids,
            code_answer_field=code_answer_field,
            exclusion_groups=exclusion_groups,
            include_groups=include_groups,
            platform_completion_code=platform_completion_code,
            completion_redirect_url=completion_redirect_url,
            platform_token=platform_token,
            platform_workspace_id=platform_workspace_id,
        )
        response = self._transport.request("PATCH", expand(STUDY, slug=slug), json=changes)
        return Study.from_json(json_object(response))

    @covers(f"POST {SURVEY_KEY}")
    def rotate_survey_key(self, slug: str) -> SurveyKey:
        """Replace the study's survey key; the old one stops working at once."""
        response = self._transport.request("POST", expand(SURVEY_KEY, slug=slug))
        return SurveyKey.from_json(json_object(response))

    # --- participants -----------------------------------------------------------------

    @covers(f"GET {PARTICIPANTS}")
    def participants(
        self,
        slug: str,
        *,
        status: Status | None = None,
        condition: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Participant]:
        """The study's participants in the order they started, optionally filtered.

        Pages of ``page_size`` (1 to 1000) are fetched as the iterator is consumed,
        so errors (an unknown study) surface at the first ``next()``.
        """
        path = expand(PARTICIPANTS, slug=slug)
        params = {"limit": page_size, "status": status, "condition": condition}
        return paginate(lambda page: self._get(path, page), params, Participant.from_json)

    @covers(f"GET {PARTICIPANT}")
    def get_participant(self, slug: str, worker_id: str) -> ParticipantDetail:
        """A worker's latest attempt, with ``events``: each status change and its time."""
        return ParticipantDetail.from_json(
            self._get(expand(PARTICIPANT, slug=slug, worker_id=worker_id))
        )

    @covers(f"GET {PARTICIPANTS_CSV}")
    def export_participants(
        self,
        slug: str,
        destination: Destination,
        *,
        status: Status | None = None,
        condition: str | None = None,
        progress: Progress | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> int:
        """Stream the participants CSV to ``destination``; returns the bytes written.

        ``destination`` is a path (written whole or not at all) or a binary file
        object. ``progress(bytes_written)`` is called after each chunk.
        """
        response = self._transport.request(
            "GET",
            expand(PARTICIPANTS_CSV, slug=slug),
            params={"status": status, "condition": condition},
            headers={"Accept": "text/csv"},
            stream=True,
        )
        return write_stream(response, destination, progress=progress, chunk_size=chunk_size)

    # --- completion codes and eligibility ---------------------------------------------

    @covers(f"GET {survey.VERIFY}", f"POST {survey.VERIFY}")
    def verify_code(self, slug: str, code: str, *, worker_id: str | None = None) -> VerifyResult:
        """Whether ``code`` is a completion code of the study (and of ``worker_id``).

        With an admin key the answer names the code's owner, status and condition.
        """
        return survey.verify(self._transport, slug, code, worker_id)

    @covers(f"GET {survey.ELIGIBILITY}")
    def eligibility(
        self, slug: str, worker_id: str, *, assignment_id: str | None = None
    ) -> Eligibility:
        """Whether ``worker_id`` may start (on ``assignment_id``, if given)."""
        return survey.eligibility(self._transport, slug, worker_id, assignment_id)

    # --- the survey endpoints, with an admin key --------------------------------------

    @covers(f"POST {survey.START}", f"GET {survey.START}")
    def start(
        self,
        slug: str,
        worker_id: str,
        *,
        assignment_id: str | None = None,
        hit_id: str | None = None,
        session_id: str | None = None,
    ) -> StartResult:
        """Start or resume ``worker_id`` as a survey page would (see SurveyClient.start)."""
        return survey.start(
            self._transport,
            slug,
            worker_id,
            assignment_id=assignment_id,
            hit_id=hit_id,
            session_id=session_id,
        )

    @covers(f"GET {survey.STATE}")
    def get_state(self, slug: str, worker_id: str) -> State:
        """The worker's saved state (a read-only mapping)."""
        return survey.get_state(self._transport, slug, worker_id)

    @covers(f"PUT {survey.STATE}")
    def put_state(self, slug: str, worker_id: str, state: Mapping[str, Any]) -> State:
        """Replace the worker's whole state; returns the new state."""
        return survey.write_state(self._transport, slug, worker_id, state, merge=False)

    @covers(f"PATCH {survey.STATE}")
    def patch_state(self, slug: str, worker_id: str, changes: Mapping[str, Any]) -> State:
        """Merge ``changes`` into the worker's state (a None value removes its key)."""
        return survey.write_state(self._transport, slug, worker_id, changes, merge=True)

    @covers(f"POST {survey.COMPLETE}")
    def complete(self, slug: str, worker_id: str) -> CompletionResult:
        """Complete the worker and get their completion code (the same on every call)."""
        return survey.complete(self._transport, slug, worker_id)


def _study_fields(
    *,
    title: str | None,
    platform: str | None,
    mode: str | None,
    conditions: Conditions | None,
    lease_minutes: int | None,
    allow_repeats: bool | None,
    allowed_origins: Iterable[str] | None,
    hit_ids: Iterable[str] | None = None,
    code_answer_field: str | None = None,
    exclusion_groups: Iterable[str] | None = None,
    include_groups: Iterable[str] | None = None,
    platform_completion_code: str | None = None,
    completion_redirect_url: str | None = None,
    platform_token: str | None = None,
    platform_workspace_id: str | None = None,
) -> dict[str, Any]:
    """The JSON of the study fields given; None means "not given", never null.

    The optional texts (completion code, redirect URL, the study's own platform token
    and workspace) are cleared by "", sent as null.
    """
    fields: dict[str, Any] = {
        "title": title,
        "platform": platform,
        "mode": mode,
        "lease_minutes": lease_minutes,
        "allow_repeats": allow_repeats,
        "code_answer_field": code_answer_field,
    }
    if hit_ids is not None:
        if isinstance(hit_ids, str):
            raise TypeError("hit_ids is a list of HIT ids, e.g. ['3PR3LXCWSF67WOX6Y5S8EXAMPLE']")
        fields["hit_ids"] = list(hit_ids)
    for name, names in (("exclusion_groups", exclusion_groups), ("include_groups", include_groups)):
        if names is not None:
            if isinstance(names, str):
                raise TypeError(f"{name} is a list of group names, e.g. ['deception']")
            fields[name] = list(names)
    if conditions is not None:
        fields["conditions"] = _conditions_json(conditions)
    if allowed_origins is not None:
        if isinstance(allowed_origins, str):
            # A lone string would otherwise be sent as a list of its characters.
            raise TypeError("allowed_origins is a list of origins, e.g. ['https://example.org']")
        fields["allowed_origins"] = list(allowed_origins)
    given = {name: value for name, value in fields.items() if value is not None}
    for name, text in (
        ("platform_completion_code", platform_completion_code),
        ("completion_redirect_url", completion_redirect_url),
        ("platform_token", platform_token),
        ("platform_workspace_id", platform_workspace_id),
    ):
        if text is not None:
            given[name] = text or None
    return given


def _conditions_json(conditions: Conditions) -> list[dict[str, Any]]:
    if isinstance(conditions, Mapping):
        return [{"name": name, "target": target} for name, target in conditions.items()]
    found: list[dict[str, Any]] = []
    for condition in conditions:
        if isinstance(condition, Condition):
            found.append(condition.to_json())
        else:
            name, target = condition
            found.append({"name": name, "target": target})
    return found
