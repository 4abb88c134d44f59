"""CSV downloads streamed in 64 KiB pieces, so an export never holds its rows in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence

from flask import Response, stream_with_context

from crowdgate.domain.spreadsheet_cells import safe_cell


def stream_csv(
    header: Sequence[str], rows: Callable[[], Iterable[Sequence[object]]], filename: str
) -> Response:
    """A streamed CSV response; ``rows`` runs as the body is sent, each cell made safe."""

    def pieces() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows():
            writer.writerow([safe_cell(value) for value in row])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return Response(
        stream_with_context(pieces()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
