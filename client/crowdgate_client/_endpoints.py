"""How SDK methods name the API operations they call, build paths, and read answers.

``@covers("GET /studies/{slug}")`` records the OpenAPI operations a method stands
for, so a test can walk ``openapi/crowdgate.json`` and name any operation the SDK
has no method for.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import requests

from crowdgate_client.errors import CrowdgateError

__all__ = [
    "Operation",
    "covered_operations",
    "covers",
    "expand",
    "json_object",
    "paginate",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_ATTRIBUTE = "__crowdgate_operations__"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, order=True)
class Operation:
    """An HTTP method and an OpenAPI path template, relative to ``/api/v1``."""

    method: str
    path: str

    @classmethod
    def parse(cls, text: str) -> Operation:
        method, _, path = text.partition(" ")
        method = method.upper()
        if method not in _METHODS or not path.startswith("/"):
            raise ValueError(f"an operation is 'METHOD /path', not {text!r}")
        return cls(method, path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def covers(*operations: str) -> Callable[[F], F]:
    """Mark a method as the SDK's way to call these operations ("METHOD /path").

    A method may name more than one when the API offers the same operation in two
    spellings (start and verify also answer GET, for Qualtrics' Web Service element).
    """
    parsed = tuple(Operation.parse(text) for text in operations)

    def mark(func: F) -> F:
        setattr(func, _ATTRIBUTE, parsed)
        return func

    return mark


def covered_operations(*classes: type) -> dict[Operation, list[str]]:
    """Each operation some method of ``classes`` covers, with those methods' names."""
    found: dict[Operation, list[str]] = {}
    for cls in classes:
        for name, member in inspect.getmembers(cls, callable):
            for operation in getattr(member, _ATTRIBUTE, ()):
                found.setdefault(operation, []).append(f"{cls.__name__}.{name}")
    return found


def expand(template: str, **values: str) -> str:
    """The path template with each ``{name}`` replaced by its value, percent-encoded.

    Worker ids may hold ``?``, ``#``, ``%`` or spaces; each value is quoted whole
    (``/`` included) so it stays one path segment.
    """
    return template.format(**{name: quote(value, safe="") for name, value in values.items()})


def json_object(response: requests.Response) -> dict[str, Any]:
    """The response's JSON object; a CrowdgateError if a 2xx answer is anything else.

    A proxy or captive portal can answer 200 with an HTML page; that should fail
    here, saying so, instead of as a KeyError deep in a model.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CrowdgateError(
            f"{response.request.method} {response.url} answered {response.status_code} "
            "with something other than a JSON object.",
            status=response.status_code,
            code="unexpected_response",
            request_id=response.headers.get("X-Request-ID"),
            response=response,
        )
    return body


def paginate(
    fetch: Callable[[Mapping[str, Any]], dict[str, Any]],
    params: Mapping[str, Any],
    parse: Callable[[Mapping[str, Any]], T],
) -> Iterator[T]:
    """Every item of a paged list, fetching the next page (``next_cursor``) as needed.

    ``fetch`` gets the query parameters of one page and returns its JSON. Pages are
    fetched lazily, so breaking out of the loop early costs no further requests.
    """
    cursor: str | None = None
    while True:
        page = fetch({**params, "cursor": cursor})
        for item in page["items"]:
            yield parse(item)
        next_cursor = page.get("next_cursor")
        if next_cursor is None:
            return
        if next_cursor == cursor:
            # A server that hands back the same cursor would otherwise loop forever.
            raise CrowdgateError(
                f"The list did not advance past cursor {cursor!r}.", code="stuck_cursor"
            )
        cursor = next_cursor
