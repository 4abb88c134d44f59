"""Adding membership rows that may exist already, in bulk, on either database."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Integer, String, any_, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crowdgate.models import ExclusionMember

#: Ids per IN list when reading or deleting members: well under both databases'
#: bound-parameter limits.
CHUNK = 500
#: Rows per INSERT statement.
INSERT_CHUNK = 5000

_TABLE: Any = ExclusionMember.__table__
_KEY = ["group_id", "worker_id", "source"]


def chunks(items: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def plan_with_values(session: Session) -> None:
    """Have PostgreSQL plan the rest of this transaction's statements for their values.

    psycopg prepares a statement run five times, and PostgreSQL then switches to a
    generic plan. For ``worker_id = ANY(:ids)`` on a group without statistics yet (one
    just filled by an upload) the generic plan compares every member with every id:
    seconds per chunk, where the plan made for the values takes milliseconds.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def one_of(session: Session, column: Any, values: list[str]) -> ColumnElement[bool]:
    """``column IN values``, as one array parameter on PostgreSQL: one constant it
    hashes, where a list of separate parameters is compared one by one."""
    found: ColumnElement[bool]
    if session.get_bind().dialect.name == "postgresql":
        found = column == any_(bindparam(None, values, type_=postgresql.ARRAY(String)))
    else:
        found = column.in_(values)
    return found


def _unnest_insert() -> Any:
    """PostgreSQL: the rows as three arrays, one statement compiled once, whatever the
    chunk's length (a multi-row VALUES is compiled anew for every chunk, which is what
    made large additions slow)."""
    rows = (
        func.unnest(
            bindparam("worker_ids", type_=postgresql.ARRAY(String)),
            bindparam("sources", type_=postgresql.ARRAY(String)),
            bindparam("study_ids", type_=postgresql.ARRAY(Integer)),
        )
        .table_valued("worker_id", "source", "study_id")
        .render_derived()
    )
    return (
        postgresql.insert(_TABLE)
        .from_select(
            ["group_id", "worker_id", "source", "study_id", "added_at"],
            select(
                bindparam("group_id", type_=Integer),
                rows.c.worker_id,
                rows.c.source,
                rows.c.study_id,
                bindparam("added_at", type_=DateTime(timezone=True)),
            ),
        )
        .on_conflict_do_nothing(index_elements=_KEY)
        .returning(_TABLE.c.id)
    )


_POSTGRESQL_INSERT = _unnest_insert()
# SQLite: one prepared statement run for every row (executemany); its rowcount is exact.
_SQLITE_INSERT = sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=_KEY)


def insert_members(
    session: Session,
    group_id: int,
    rows: Iterable[tuple[str, str, int | None]],
    *,
    now: datetime,
) -> int:
    """Insert (worker_id, source, study_id) rows, skipping those the group holds already.

    Returns how many rows were new. ON CONFLICT DO NOTHING makes concurrent starts of
    the same worker, or a repeated upload, harmless without a read first.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    added = 0
    for chunk in chunks(rows, INSERT_CHUNK):
        if postgres:
            result = session.execute(
                _POSTGRESQL_INSERT,
                {
                    "group_id": group_id,
                    "added_at": now,
                    "worker_ids": [worker_id for worker_id, _, _ in chunk],
                    "sources": [source for _, source, _ in chunk],
                    "study_ids": [study_id for _, _, study_id in chunk],
                },
            )
            added += len(result.all())
        else:
            result = session.execute(
                _SQLITE_INSERT,
                [
                    {
                        "group_id": group_id,
                        "worker_id": worker_id,
                        "source": source,
                        "study_id": study_id,
                        "added_at": now,
                    }
                    for worker_id, source, study_id in chunk
                ],
            )
            added += max(int(result.rowcount), 0)  # type: ignore[attr-defined]
    return added
