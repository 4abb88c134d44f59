"""Writing a streamed download (the participants CSV) to a file, chunk by chunk.

A study's export can be larger than memory, so bytes go from the socket to the
destination as they arrive. A download to a path lands in a temporary file next to
it and is renamed into place only when complete: an interrupted export never leaves
a truncated CSV that looks finished. Such a file is readable by its owner only
(``tempfile.mkstemp``'s mode), which suits a record of participants.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeAlias

import requests

from crowdgate_client import errors

__all__ = ["Destination", "Progress", "Writable", "write_stream"]

DEFAULT_CHUNK_SIZE = 64 * 1024


class Writable(Protocol):
    """Anything with ``write(bytes)``: an open binary file, BytesIO, a gzip file..."""

    def write(self, data: bytes, /) -> object: ...


Destination: TypeAlias = str | os.PathLike[str] | Writable
#: Called after each chunk with the total number of bytes written so far.
Progress: TypeAlias = Callable[[int], object]


def write_stream(
    response: requests.Response,
    destination: Destination,
    *,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Copy the body of a streamed ``response`` to ``destination``; the bytes written.

    The response is closed either way. A file object is written to as it is (the
    caller opened it, so the caller closes it).
    """
    with response:
        if isinstance(destination, str | os.PathLike):
            return _to_path(response, Path(destination), progress, chunk_size)
        return _copy(response, destination, progress, chunk_size)


def _to_path(
    response: requests.Response, path: Path, progress: Progress | None, chunk_size: int
) -> int:
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            written = _copy(response, file, progress, chunk_size)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return written


def _copy(
    response: requests.Response, file: Writable, progress: Progress | None, chunk_size: int
) -> int:
    written = 0
    try:
        for chunk in response.iter_content(chunk_size=chunk_size):
            file.write(chunk)
            written += len(chunk)
            if progress is not None:
                progress(written)
    except requests.RequestException as exc:
        # The status line said 200, then the body broke off: the export is incomplete.
        raise errors.ConnectionError(
            f"The download from {response.url} broke off after {written} bytes: {exc}",
            code="incomplete_download",
            status=response.status_code,
            request_id=response.headers.get("X-Request-ID"),
        ) from exc
    return written
