"""What posting a study's HITs will cost, before anything is created.

The fee rule is the platform's (``Platform.posting_fee``); this module only splits the
assignments into HITs and adds up. MTurk charges 40% instead of 20% on a HIT of 10 or
more assignments, so splitting a study into micro-batches of at most 9 (CloudResearch's
trick) halves the fee; the preview shows both totals so the researcher can see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from crowdgate.platforms import Platform

#: The most assignments a micro-batch HIT has: one fewer than where MTurk's fee doubles.
MICRO_BATCH_SIZE = 9
CENT = Decimal("0.01")


@dataclass(frozen=True)
class HitCost:
    """One HIT of the plan: its assignments and what they cost."""

    index: int
    assignments: int
    rewards: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees


@dataclass(frozen=True)
class Totals:
    hits: int
    assignments: int
    rewards: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees


@dataclass(frozen=True)
class CostPlan:
    """The HITs a request creates, and the totals of both ways of posting it."""

    reward: Decimal
    micro_batches: bool
    hits: tuple[HitCost, ...]
    single: Totals  # one HIT of every assignment
    micro: Totals  # micro-batches of at most MICRO_BATCH_SIZE
    balance: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return self.micro.total if self.micro_batches else self.single.total

    @property
    def sufficient(self) -> bool | None:
        """Whether the balance covers the plan; None when the balance is not known."""
        return None if self.balance is None else self.balance >= self.total

    @property
    def saving(self) -> Decimal:
        """What micro-batches save against one HIT (never negative)."""
        return max(self.single.total - self.micro.total, Decimal("0.00"))


def batch_sizes(assignments: int, *, micro_batches: bool) -> list[int]:
    """The assignments of each HIT: all in one, or full batches of 9 and the rest."""
    if assignments < 1:
        raise ValueError("a HIT has at least one assignment")
    if not micro_batches:
        return [assignments]
    full, rest = divmod(assignments, MICRO_BATCH_SIZE)
    return [MICRO_BATCH_SIZE] * full + ([rest] if rest else [])


def hit_costs(platform: Platform, reward: Decimal, sizes: Sequence[int]) -> tuple[HitCost, ...]:
    return tuple(
        HitCost(
            index=index,
            assignments=size,
            rewards=(reward * size).quantize(CENT),
            fees=platform.posting_fee(reward, size).quantize(CENT),
        )
        for index, size in enumerate(sizes)
    )


def _totals(costs: Sequence[HitCost]) -> Totals:
    return Totals(
        hits=len(costs),
        assignments=sum(c.assignments for c in costs),
        rewards=sum((c.rewards for c in costs), Decimal("0.00")),
        fees=sum((c.fees for c in costs), Decimal("0.00")),
    )


def plan_costs(
    platform: Platform,
    reward: Decimal,
    assignments: int,
    *,
    micro_batches: bool,
    balance: Decimal | None = None,
) -> CostPlan:
    """The cost of posting ``assignments`` at ``reward`` each, both ways.

    Raises NotSupported for a platform without postings (its ``posting_fee`` does).
    """
    single = hit_costs(platform, reward, batch_sizes(assignments, micro_batches=False))
    micro = hit_costs(platform, reward, batch_sizes(assignments, micro_batches=True))
    return CostPlan(
        reward=reward,
        micro_batches=micro_batches,
        hits=micro if micro_batches else single,
        single=_totals(single),
        micro=_totals(micro),
        balance=balance,
    )
