"""What MTurk would refuse, checked before calling it: botocore checks only types.

botocore's service model knows the id patterns and lengths (EntityId ``^[A-Z0-9]+$``,
1-64; CustomerId ``^A[A-Z0-9]+$``, 1-64; CurrencyAmount) but does not enforce
patterns or maxima, and MTurk's own limits (100 workers per NotifyWorkers, a 200
character subject) live only in its documentation. A refusal here names the field
and is raised before any request leaves the process.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from crowdgate.errors import ValidationFailed

ENTITY_ID = re.compile(r"[A-Z0-9]{1,64}")
WORKER_ID = re.compile(r"A[A-Z0-9]{1,63}")
MONEY = re.compile(r"\d+(\.\d{1,2})?")
CENT = Decimal("0.01")

#: MTurk's documented limits.
MAX_NOTIFY_WORKERS = 100
MAX_SUBJECT = 200
MAX_MESSAGE = 4096
MAX_FEEDBACK = 1024
MAX_TITLE = 128
MAX_QUALIFICATION_NAME = 256
MAX_DESCRIPTION = 2000
MAX_KEYWORDS = 1000
MAX_ANNOTATION = 255
MAX_TOKEN = 64
MIN_DURATION = 30
MAX_DURATION = 365 * 24 * 3600
MAX_AUTO_APPROVAL_DELAY = 30 * 24 * 3600


def refuse(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed(f"{field} {problem}", fields={field: [problem]})


def entity_id(value: str, field: str) -> str:
    """A HIT, assignment or qualification type id: 1-64 capital letters or digits."""
    if not isinstance(value, str) or not ENTITY_ID.fullmatch(value):
        raise refuse(field, f"is not an MTurk id (1 to 64 capital letters or digits): {value!r}")
    return value


def worker_id(value: str, field: str = "worker_id") -> str:
    if not isinstance(value, str) or not WORKER_ID.fullmatch(value):
        raise refuse(
            field,
            f"is not an MTurk worker id ('A' and 1 to 63 capital letters or digits): {value!r}",
        )
    return value


def money(amount: Decimal, field: str, *, minimum: Decimal = CENT) -> str:
    """``amount`` as MTurk's CurrencyAmount string with exactly two decimals ("1.50").

    Refuses fractions of a cent rather than rounding them: money sent is what was asked.
    """
    try:
        exact = Decimal(amount)
        cents = exact.quantize(CENT)
    except (InvalidOperation, TypeError, ValueError):
        raise refuse(field, f"is not an amount of dollars: {amount!r}") from None
    if not exact.is_finite() or cents != exact:
        raise refuse(field, f"must be whole cents, got {amount}")
    if cents < minimum:
        raise refuse(field, f"must be at least ${minimum}, got {amount}")
    text = f"{cents:.2f}"
    if not MONEY.fullmatch(text):  # belt and braces: exactly what MTurk parses
        raise refuse(field, f"is not an amount MTurk accepts: {text}")
    return text


def text(value: str, field: str, *, maximum: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise refuse(field, "must be text")
    if required and not value.strip():
        raise refuse(field, "must not be empty")
    if len(value) > maximum:
        raise refuse(field, f"is {len(value)} characters long; MTurk allows at most {maximum}")
    return value


def seconds(value: int, field: str, *, minimum: int, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise refuse(field, f"must be whole seconds from {minimum} to {maximum}, got {value!r}")
    return value


def token(value: str, field: str = "token") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_TOKEN:
        raise refuse(field, f"must be 1 to {MAX_TOKEN} characters, got {len(str(value))}")
    return value


def fee(amount: Decimal, rate: Decimal) -> Decimal:
    """MTurk's commission on one payment: ``rate`` of it, rounded half-up, at least a cent."""
    return max(CENT, (Decimal(amount) * rate).quantize(CENT, rounding=ROUND_HALF_UP))
