"""What both emulators' state files need: dataclass rows as JSON and back, written atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, fields
from decimal import Decimal
from pathlib import Path
from typing import Any


def write_atomically(path: Path, payload: str) -> None:
    """A crash mid-write leaves the previous file, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def plain(row: Any) -> dict[str, Any]:
    """A dataclass row as JSON values (Decimals as strings)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(row).items()}


def revive(kind: type, row: dict[str, Any]) -> Any:
    """The ``kind`` row ``plain`` made ``row`` from."""
    values = dict(row)
    for item in fields(kind):
        if item.type == "Decimal" and values.get(item.name) is not None:
            values[item.name] = Decimal(values[item.name])
    return kind(**values)
