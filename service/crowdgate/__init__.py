"""crowdgate: connects survey pages and researchers' scripts to crowd-work platforms."""

from __future__ import annotations

from crowdgate.app import create_app
from crowdgate.extension import CrowdGate

__all__ = ["CrowdGate", "create_app"]
