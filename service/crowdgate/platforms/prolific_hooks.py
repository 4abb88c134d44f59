"""Prolific's hooks: checking a delivery's signature and reading what it says.

Prolific signs each delivery with the workspace's secret: the header
``X-Prolific-Request-Signature`` is base64(HMAC-SHA256(secret, timestamp + body)),
``X-Prolific-Request-Timestamp`` the unix seconds it was sent. Its documentation's
own example re-serialises the parsed body with ``json.dumps`` before signing, so a
signature over the raw bytes is tried first and one over that re-serialisation second.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from crowdgate.platforms.prolific_records import status_word, submission

TIMESTAMP_HEADER = "X-Prolific-Request-Timestamp"
SIGNATURE_HEADER = "X-Prolific-Request-Signature"
EVENT_ID_HEADER = "X-Event-ID"
SUBMISSION_EVENT = "submission.status.change"
#: A delivery signed longer ago (or further ahead) than this is refused as a replay.
MAX_AGE_SECONDS = 300


class BadHook(ValueError):
    """A delivery that cannot be trusted or read; ``field`` names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Hook:
    """One event, in crowdgate's words where it has them.

    For ``submission.status.change``: ``resource_id`` is the submission (crowdgate's
    assignment id), ``participant_id`` the worker, ``status`` crowdgate's submission
    status (``records.SUBMITTED``...) and ``platform_status`` Prolific's own word.
    """

    event_type: str
    resource_id: str
    participant_id: str | None = None
    status: str | None = None
    platform_status: str | None = None


def _signature(secret: str, timestamp: str, body: bytes) -> bytes:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256)
    return digest.digest()


def verify(
    secret: str, timestamp: str | None, signature: str | None, raw: bytes, now: float
) -> None:
    """Raise BadHook unless ``signature`` signs ``timestamp`` + the body with ``secret``
    and ``timestamp`` is within MAX_AGE_SECONDS of ``now`` (unix seconds)."""
    if not timestamp:
        raise BadHook(TIMESTAMP_HEADER, "is missing")
    if not signature:
        raise BadHook(SIGNATURE_HEADER, "is missing")
    try:
        sent = int(timestamp)
    except ValueError:
        raise BadHook(TIMESTAMP_HEADER, "is not a unix timestamp in seconds") from None
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadHook(SIGNATURE_HEADER, "is not base64") from None
    bodies = [raw]
    try:
        redumped = json.dumps(json.loads(raw)).encode("utf-8")
    except ValueError:
        redumped = raw
    if redumped != raw:
        bodies.append(redumped)
    # Every candidate is compared, so the time taken says nothing about which one failed.
    matches = [hmac.compare_digest(_signature(secret, timestamp, body), given) for body in bodies]
    if not any(matches):
        raise BadHook(SIGNATURE_HEADER, "does not match the body and timestamp")
    # Checked after the signature, so an attacker learns nothing from the clock check.
    if abs(now - sent) > MAX_AGE_SECONDS:
        raise BadHook(
            TIMESTAMP_HEADER, f"is more than {MAX_AGE_SECONDS} seconds from now (a replay?)"
        )


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadHook(name, "must be a non-empty string")
    return value.strip()


def parse(raw: bytes) -> Hook:
    """The event a verified body describes; BadHook naming the field if it is not one."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadHook("body", "is not JSON") from None
    if not isinstance(body, dict):
        raise BadHook("body", "must be a JSON object")
    event_type = _text(body, "event_type", required=True)
    resource_id = _text(body, "resource_id", required=True)
    assert event_type is not None and resource_id is not None
    if event_type != SUBMISSION_EVENT:
        return Hook(event_type, resource_id)
    word = status_word(_text(body, "status", required=True))
    # Read as sync reads a listed submission, so both map Prolific's words alike; a
    # place still under way is no submission yet and has no status of crowdgate's.
    found = submission({"id": resource_id, "status": word}, "")
    return Hook(
        event_type,
        resource_id,
        participant_id=_text(body, "participant_id"),
        status=found.status if found is not None else None,
        platform_status=word,
    )
