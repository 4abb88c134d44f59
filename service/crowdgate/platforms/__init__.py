"""Crowd-work platforms behind one interface; only this package knows which is which."""

from __future__ import annotations

from crowdgate.platforms.base import Platform, PlatformClient, PlatformSettings
from crowdgate.platforms.failures import (
    NotSupported,
    PlatformError,
    PlatformRejected,
    PlatformUnavailable,
)
from crowdgate.platforms.mturk import MTURK_SYSTEM_QUALIFICATIONS, MTurk, MTurkClient
from crowdgate.platforms.none import NoPlatform
from crowdgate.platforms.prolific import Prolific
from crowdgate.platforms.records import (
    APPROVED,
    REJECTED,
    RETURNED,
    SUBMISSION_STATUSES,
    SUBMITTED,
    TIMED_OUT,
    BonusPayment,
    NotifyResult,
    Posting,
    PostingRequest,
    QualificationGrant,
    QualificationType,
    Requirement,
    Submission,
)

_PLATFORMS: dict[str, Platform] = {p.name: p for p in (NoPlatform(), MTurk(), Prolific())}

#: The names a study may give as its ``platform``.
PLATFORM_NAMES: tuple[str, ...] = tuple(_PLATFORMS)


def get_platform(name: str) -> Platform:
    return _PLATFORMS[name]


__all__ = [
    "APPROVED",
    "MTURK_SYSTEM_QUALIFICATIONS",
    "PLATFORM_NAMES",
    "REJECTED",
    "RETURNED",
    "SUBMISSION_STATUSES",
    "SUBMITTED",
    "TIMED_OUT",
    "BonusPayment",
    "MTurk",
    "MTurkClient",
    "NoPlatform",
    "NotSupported",
    "NotifyResult",
    "Platform",
    "PlatformClient",
    "PlatformError",
    "PlatformRejected",
    "PlatformSettings",
    "PlatformUnavailable",
    "Posting",
    "PostingRequest",
    "Prolific",
    "QualificationGrant",
    "QualificationType",
    "Requirement",
    "Submission",
    "get_platform",
]
