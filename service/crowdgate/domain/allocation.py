"""Balanced condition assignment: the condition with the most room relative to its target."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any


def choose_condition(
    conditions: Sequence[Mapping[str, Any]],
    taken: Mapping[str, int],
    rng: random.Random | None = None,
) -> str | None:
    """Pick the condition whose filled share of its target is lowest, ties at random.

    ``taken`` counts the places held per condition (completed participants and
    started ones whose lease has not lapsed). When every condition is full the
    least over-filled one is still chosen: the platform has already let the worker
    in, and turning them away would leave them unpaid.
    """
    if not conditions:
        return None
    rng = rng or random.SystemRandom()
    shares = {c["name"]: taken.get(c["name"], 0) / c["target"] for c in conditions}
    lowest = min(shares.values())
    return rng.choice([name for name, share in shares.items() if share == lowest])
