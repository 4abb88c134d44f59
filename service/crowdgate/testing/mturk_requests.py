"""Reading an MTurk request the way MTurk does: its errors, field checks and page tokens."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

ENTITY_ID = re.compile(r"[A-Z0-9]{1,64}")
WORKER_ID = re.compile(r"A[A-Z0-9]{1,63}")
MONEY = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
MAX_RESULTS = 100

T = TypeVar("T")


class MTurkError(Exception):
    """An answer MTurk gives instead of a result, in the shape botocore parses."""

    def __init__(
        self, message: str, turk_code: str, *, kind: str = "RequestError", status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.turk_code = turk_code
        self.kind = kind
        self.status = status

    def body(self, request_id: str) -> dict[str, Any]:
        # MTurk appends its request id in parentheses; the adapter keeps the message whole.
        return {
            "__type": self.kind,
            "Message": f"{self.message} ({request_id})",
            "TurkErrorCode": self.turk_code,
        }


def bad(message: str, code: str = "AWS.ParameterOutOfRange") -> MTurkError:
    return MTurkError(message, code)


class Params:
    """A request's JSON body, read with MTurk's checks; each failure is a RequestError."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def has(self, name: str) -> bool:
        return self.body.get(name) is not None

    def raw(self, name: str) -> Any:
        return self.body.get(name)

    def string(
        self, name: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        value = self.body.get(name)
        if value is None:
            if required:
                raise bad(
                    f"Value null at '{name}' failed to satisfy constraint: Member must not be null",
                    "AWS.MissingParameters",
                )
            return None
        if not isinstance(value, str):
            raise bad(f"{name} must be a string")
        if max_length is not None and len(value) > max_length:
            raise bad(f"{name} must be at most {max_length} characters")
        return value

    def text(self, name: str, *, max_length: int | None = None) -> str:
        value = self.string(name, required=True, max_length=max_length)
        assert value is not None
        return value

    def entity_id(self, name: str, *, required: bool = True) -> str | None:
        value = self.string(name, required=required)
        if value is not None and not ENTITY_ID.fullmatch(value):
            raise bad(f"{name} '{value}' is not a valid id", "AWS.ParameterOutOfRange")
        return value

    def worker_id(self, name: str = "WorkerId") -> str:
        value = self.text(name)
        if not WORKER_ID.fullmatch(value):
            raise bad(f"{name} '{value}' is not a valid worker id", "AWS.ParameterOutOfRange")
        return value

    def money(self, name: str, *, required: bool = True) -> Decimal | None:
        value = self.string(name, required=required)
        if value is None:
            return None
        if not MONEY.fullmatch(value):
            raise bad(
                f"{name} '{value}' is not an amount of dollars and cents", "AWS.ParameterOutOfRange"
            )
        return Decimal(value)

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        value = self.body.get(name)
        if value is None:
            if required:
                raise bad(f"{name} is required", "AWS.MissingParameters")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"{name} must be a whole number")
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad(f"{name} must be between {low} and {high}, not {value}")
        return value

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.body.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise bad(f"{name} must be true or false")
        return value

    def timestamp(self, name: str) -> float:
        value = self.body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"{name} must be a timestamp", "AWS.MissingParameters")
        return float(value)


def page(
    params: Params, rows: Sequence[T], seq_of: Callable[[T], int]
) -> tuple[list[T], dict[str, Any]]:
    """One page of ``rows`` (in sequence order) and the NextToken/NumResults to answer with.

    The token names the last sequence number given, so rows added while a caller
    pages through are neither skipped nor given twice.
    """
    size = params.integer("MaxResults", default=MAX_RESULTS, low=1, high=MAX_RESULTS)
    assert size is not None
    after = 0
    token = params.string("NextToken")
    if token is not None:
        try:
            decoded = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
            prefix, _, number = decoded.partition(":")
            if prefix != "after":
                raise ValueError(decoded)
            after = int(number)
        except ValueError:
            raise bad(
                "NextToken is not a token this service gave", "AWS.ParameterOutOfRange"
            ) from None
    ordered = sorted((r for r in rows if seq_of(r) > after), key=seq_of)
    chosen = ordered[:size]
    extra: dict[str, Any] = {"NumResults": len(chosen)}
    if len(ordered) > size:
        marker = f"after:{seq_of(chosen[-1])}".encode("ascii")
        extra["NextToken"] = base64.urlsafe_b64encode(marker).decode("ascii")
    return chosen, extra
