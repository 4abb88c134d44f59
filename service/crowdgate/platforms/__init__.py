"""Crowd-work platforms behind one interface; only this package knows which is which."""

from __future__ import annotations

from crowdgate.platforms.base import Platform
from crowdgate.platforms.mturk import MTurk
from crowdgate.platforms.none import NoPlatform
from crowdgate.platforms.prolific import Prolific

_PLATFORMS: dict[str, Platform] = {p.name: p for p in (NoPlatform(), MTurk(), Prolific())}

#: The names a study may give as its ``platform``.
PLATFORM_NAMES: tuple[str, ...] = tuple(_PLATFORMS)


def get_platform(name: str) -> Platform:
    return _PLATFORMS[name]


__all__ = ["PLATFORM_NAMES", "Platform", "get_platform"]
