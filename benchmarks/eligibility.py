"""Benchmark eligibility against group size: 1,000,000 group members next to 100, one run.

The survey page's eligibility check must not slow down as a lab's participation record
grows. The script sets up two databases the same way except for the number of group
members (SQLite files in a temporary directory by default; with --database-url, two
temporary databases on that PostgreSQL server), each served by its own crowdgate under
gunicorn with identical settings:

    small    --baseline-members (100) members
    large    --members (1,000,000) members

In each, a study (platform mturk) excludes the members of five groups and admits only
the members of a sixth, and the members are spread evenly over the six groups. Groups
and study are made over the API; the members are inserted straight into the table
(the API would take far longer to add a million), with MTurk-shaped worker ids (``A``
and 13 upper-case letters and digits). On PostgreSQL both databases are then vacuumed
and analysed, as autovacuum would do by itself within a minute or so. The load asks
``GET /api/v1/studies/{slug}/eligibility?worker_id=...`` with the survey key about
three kinds of worker in equal shares, none of whom has a participant row:

    excluded       a member of one of the exclude groups   eligible false
    new            a member of the include group only      eligible true
    not_included   in no group                             eligible false

The large database is asked about workers sampled from all over its groups, so the
probes do not just hit a few cached pages. A few answers are first checked with the
admin key (the reason and the group named), and every answer under load is checked
(status, worker, ``eligible`` and ``reason``); anything else counts as an error, so a
broken endpoint cannot pass for a fast one.

After an untimed warm-up of both servers, ``--rounds`` rounds run the two cases in
alternating order (small large, large small, ...), so that drift on the machine hits
both alike and neither always runs first. It prints, per case, requests per second,
p50 and p99 latency and the CPU time per request used by that case's server and by
the load generator (benchmarks/_load.py, the same as survey_hot_path.py's), then the
ratio large / small per round and pooled, and the target: the large case's throughput
at least 0.90 of the small case's, with zero errors. The exit status is 0 when the
target holds, 1 when it does not, 2 when the benchmark could not run, 130 when
interrupted.

Run:  python benchmarks/eligibility.py [--members 1000000] [--seconds 60] [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from _load import Item, LoadGenerator, Phase, PhaseResult, Recorder, print_row
from _servers import (
    API,
    BenchmarkError,
    Gunicorn,
    Store,
    add_run_options,
    check_at_least_one,
    crowdgate_env,
    gunicorn_settings,
    http_json,
    load_average,
    prepare_crowdgate,
    print_server_problems,
    run_guarded,
    start_servers,
    temporary_store,
)

TARGET_RATIO = 0.90
EXCLUDE_GROUPS = tuple(f"bench-exclude-{i}" for i in range(1, 6))
INCLUDE_GROUP = "bench-include"
#: Member ``i`` belongs to GROUPS[i % 6]: the exclude groups, then the include group.
GROUPS = (*EXCLUDE_GROUPS, INCLUDE_GROUP)
#: Distinct workers of each kind asked about, at most (fewer if a case has fewer).
ASKS_PER_KIND = 1000
WIDTHS = (8, 9, 9, 6, 7, 7, 7, 7, 10, 10)

# A worker id is a mixing of its index, which permutes the 52-bit integers (odd
# multipliers and xor-shifts are each invertible there), so ids are distinct and look
# random. Non-members are taken from indexes past any member's.
_BITS = 52
_MASK = (1 << _BITS) - 1
_NON_MEMBER = 1 << 40


def scattered(index: int) -> int:
    value = (index * 0x9E3779B97F4A7C15 + 0x5DEECE66D) & _MASK
    value ^= value >> 26
    value = (value * 0xBF58476D1CE4E5B9) & _MASK
    return value ^ (value >> 23)


def worker_id_of(value: int) -> str:
    """``A`` and 13 upper-case hex digits: an MTurk-shaped id that sorts as its value."""
    return f"A{value:013X}"


def worker_id(index: int) -> str:
    """The index-th benchmark worker."""
    return worker_id_of(scattered(index))


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One database with its server, study and the workers the load asks about."""

    name: str
    members: int
    store: Store
    admin_key: str
    server: Gunicorn
    slug: str = ""
    survey_key: str = ""
    asks: list[Item] = field(default_factory=list)
    #: For a few asks of each kind: (worker, reason, the group an admin is told of).
    probes: list[tuple[str, str, str | None]] = field(default_factory=list)
    insert_seconds: float = 0.0

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = http_json(self.server.port, method, path, body, self.admin())
        if status not in (200, 201):
            raise BenchmarkError(f"{method} {path} ({self.name}): HTTP {status} {answer}")
        return answer


def excluded_member(k: int) -> int:
    """The index of the k-th member of the exclude groups."""
    return k // 5 * 6 + k % 5


def included_member(k: int) -> int:
    """The index of the k-th member of the include group."""
    return k * 6 + 5


def plan_asks(case: Case, rng: random.Random) -> None:
    """The workers the load asks about: equal shares of each kind, interleaved."""
    excluded_count = case.members // 6 * 5 + min(case.members % 6, 5)
    included_count = case.members // 6
    per_kind = min(ASKS_PER_KIND, excluded_count, included_count)
    excluded = [excluded_member(k) for k in rng.sample(range(excluded_count), per_kind)]
    included = [included_member(k) for k in rng.sample(range(included_count), per_kind)]
    for e, i, k in zip(excluded, included, range(per_kind), strict=True):
        case.asks.append((worker_id(e), "excluded"))
        case.asks.append((worker_id(i), "new"))
        case.asks.append((worker_id(_NON_MEMBER + k), "not_included"))
    for k in range(min(3, per_kind)):
        case.probes.append((worker_id(excluded[k]), "excluded", GROUPS[excluded[k] % 6]))
        case.probes.append((worker_id(included[k]), "new", None))
        case.probes.append((worker_id(_NON_MEMBER + k), "not_included", INCLUDE_GROUP))


def make_study(case: Case) -> None:
    """The groups and the study, over the API as a researcher would make them."""
    for name in GROUPS:
        case.call("PUT", f"{API}/exclusions/{name}", {"description": "benchmark workers"})
    case.slug = f"bench-{uuid.uuid4().hex[:8]}"
    study = case.call(
        "POST",
        f"{API}/studies",
        {
            "slug": case.slug,
            "platform": "mturk",
            "mode": "sandbox",
            "conditions": [{"name": "control", "target": 100}],
            "exclusion_groups": list(EXCLUDE_GROUPS),
            "include_groups": [INCLUDE_GROUP],
        },
    )
    case.survey_key = study["survey_key"]


def insert_members(case: Case) -> None:
    """Put the members straight into the table and leave the database as a running
    service's would be: SQLite's WAL folded in; PostgreSQL vacuumed and its statistics
    made, as autovacuum would do by itself soon after.

    The rows go straight to the driver, values converted once, in the order of the
    (group, worker) index so that inserts append to it: COPY on PostgreSQL, executemany
    on SQLite. SQLAlchemy's per-row work, or on PostgreSQL a statement per row or
    psycopg parsing large multi-row INSERTs, would take minutes for a million.
    """
    from crowdgate.db import make_engine
    from crowdgate.models import ExclusionGroup, ExclusionMember
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    began = time.perf_counter()
    engine = make_engine(case.store.url)
    dialect = engine.dialect
    postgresql = dialect.name == "postgresql"
    to_db = ExclusionMember.added_at.type.dialect_impl(dialect).bind_processor(dialect)
    now = datetime.now(UTC)
    added_at = now if postgresql or to_db is None else to_db(now)
    columns = f"{ExclusionMember.__tablename__} (group_id, worker_id, source, added_at)"
    try:
        with engine.begin() as connection:
            ids = dict(connection.execute(select(ExclusionGroup.name, ExclusionGroup.id)).all())
        for index, name in enumerate(GROUPS):
            values = sorted(scattered(i) for i in range(index, case.members, len(GROUPS)))
            rows = ((ids[name], worker_id_of(v), "workers", added_at) for v in values)
            with engine.begin() as connection:
                cursor = connection.connection.cursor()
                if postgresql:
                    with cursor.copy(f"COPY {columns} FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    cursor.executemany(f"INSERT INTO {columns} VALUES (?, ?, ?, ?)", rows)
        # Outside any transaction: neither statement may run inside one.
        pooled = engine.raw_connection()
        driver = pooled.dbapi_connection
        try:
            if postgresql:
                driver.autocommit = True
                driver.execute("VACUUM ANALYZE")
            else:
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            pooled.close()
    except (SQLAlchemyError, dialect.loaded_dbapi.Error) as exc:
        raise BenchmarkError(f"{case.name}: inserting the members failed: {exc}") from exc
    finally:
        engine.dispose()
    case.insert_seconds = time.perf_counter() - began
    counted = sum(case.call("GET", f"{API}/exclusions/{name}")["members"] for name in GROUPS)
    if counted != case.members:
        raise BenchmarkError(f"{case.name}: the groups hold {counted} members, not {case.members}")


def check_answers(case: Case) -> None:
    """Refuse to time an endpoint that answers wrongly: a few asks, with the admin key
    (which is told the group) and with the survey key (which must not be)."""
    path = f"{API}/studies/{case.slug}/eligibility?"
    for worker, reason, group in case.probes:
        answer = case.call("GET", path + urlencode({"worker_id": worker}))
        expected = {"worker_id": worker, "eligible": reason == "new", "reason": reason}
        if group is not None:
            expected["group"] = group
        if answer != expected:
            raise BenchmarkError(f"{case.name}: asked as admin, expected {expected}, got {answer}")
        status, answer = http_json(
            case.server.port,
            "GET",
            path + urlencode({"worker_id": worker}),
            headers={"X-Survey-Key": case.survey_key},
        )
        expected.pop("group", None)
        if status != 200 or answer != expected:
            raise BenchmarkError(
                f"{case.name}: asked with the survey key, expected {expected}, "
                f"got HTTP {status} {answer}"
            )


# --------------------------------------------------------------------------- report


def ratios(large: Sequence[PhaseResult], small: Sequence[PhaseResult]) -> list[float]:
    return [b.rps / a.rps if a.rps else 0.0 for a, b in zip(small, large, strict=True)]


def report(
    rounds: dict[str, list[PhaseResult]],
    warm_up: dict[str, PhaseResult],
    cases: Sequence[Case],
    args: argparse.Namespace,
) -> bool:
    small, large = cases
    pooled = {case.name: PhaseResult.pooled(case.name, rounds[case.name]) for case in cases}
    print()
    print_row(
        (
            "case", "members", "requests", "errors", "retries", "req/s",
            "p50 ms", "p99 ms", "server CPU", "client CPU",
        ),
        WIDTHS,
    )  # fmt: skip
    for case in cases:
        r = pooled[case.name]
        print_row(
            (
                case.name,
                str(case.members),
                str(r.requests),
                str(r.errors),
                str(r.retries),
                f"{r.rps:.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                r.cpu_ms(r.server_cpu),
                r.cpu_ms(r.client_cpu),
            ),
            WIDTHS,
        )
    print(
        f"(pooled over {args.rounds} rounds in alternating order; CPU: milliseconds of CPU "
        "per request used by the case's\n gunicorn processes and by the load generator)"
    )
    per_round = ratios(rounds[large.name], rounds[small.name])
    for case in cases:
        shown = " ".join(f"{p.rps:.0f}" for p in rounds[case.name])
        print(f"per round: {case.name} req/s {shown}")
    print("per round: large / small " + " ".join(f"{x:.2f}" for x in per_round))
    if len(per_round) > 1:
        print(
            f"  median {statistics.median(per_round):.2f}, "
            f"range {min(per_round):.2f} to {max(per_round):.2f}"
        )
        if max(per_round) > 1.2 * min(per_round):
            print(
                "  (the rounds disagree by more than 20 %: other work on the machine moved "
                "the figures; run again, or with more rounds)"
            )
    a, b = pooled[small.name], pooled[large.name]
    if a.requests and b.requests and a.server_cpu > 0:
        cpu = (b.server_cpu / b.requests) / (a.server_cpu / a.requests)
        print(f"server CPU per request, large / small: {cpu:.2f}")
    for name, result in (*warm_up.items(), *pooled.items()):
        for sample in result.samples:
            print(f"  {name} error: {sample}")

    share = b.rps / a.rps if a.rps else 0.0
    met = share >= TARGET_RATIO
    errors = a.errors + b.errors + sum(r.errors for r in warm_up.values())
    print("\ntarget")
    print(
        f"  throughput with {large.members} members >= {TARGET_RATIO:.2f} x with "
        f"{small.members}: {share:.2f}  {'MET' if met else 'NOT MET'}"
    )
    print(
        f"  zero errors (warm-up included): {errors} errors  {'MET' if errors == 0 else 'NOT MET'}"
    )
    return met and errors == 0


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Compare crowdgate's eligibility endpoint with 1,000,000 exclusion-group members "
            "against 100, under identical gunicorn settings, in one run."
        )
    )
    add_run_options(parser, servers="both servers", databases="two temporary databases are")
    parser.add_argument(
        "--members", type=int, default=1_000_000, help="members in the large case (1000000)"
    )
    parser.add_argument(
        "--baseline-members", type=int, default=100, help="members in the small case (100)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="seconds of load on each case, split over the rounds (60)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=20,
        help=(
            "rounds, each running both cases, small first in every other one: short rounds "
            "and many of them keep a burst of other work on the machine from deciding (20)"
        ),
    )
    parser.add_argument("--seed", type=int, default=5, help="picks the workers asked about (5)")
    args = parser.parse_args(argv)
    check_at_least_one(parser, args, ("rounds",))
    for name in ("members", "baseline_members"):
        if getattr(args, name) < len(GROUPS):
            parser.error(f"--{name.replace('_', '-')} must be at least {len(GROUPS)}")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_guarded(
        lambda cleanup, workdir: benchmark(args, cleanup, workdir), keep_logs=args.keep_logs
    )


def benchmark(args: argparse.Namespace, cleanup: ExitStack, workdir: Path) -> int:
    loader = LoadGenerator(args.clients, args.load_processes)
    cleanup.callback(loader.stop)
    settings = gunicorn_settings(args.workers, args.threads)
    cases = []
    for name, members in (("small", args.baseline_members), ("large", args.members)):
        store = temporary_store(args.database_url, workdir, cleanup, name)
        env = crowdgate_env(store)
        admin_key = prepare_crowdgate(env, workdir)
        server = Gunicorn(name, "crowdgate.wsgi:app", settings, env, workdir)
        cases.append(Case(name, members, store, admin_key, server))
    servers = [case.server for case in cases]
    start_servers(servers, cleanup)
    for server in servers:
        server.wait_ready(f"{API}/health")

    rng = random.Random(args.seed)
    for case in cases:
        print(f"  setting up {case.name}: {case.members} members ...", flush=True)
        make_study(case)
        insert_members(case)
        plan_asks(case, rng)
        check_answers(case)

    print("crowdgate eligibility benchmark: group size")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"  gunicorn (both servers): {' '.join(settings[:6])}")
    print(
        f"  load: {args.clients} keep-alive clients in {loader.processes} processes; "
        f"{args.seconds:g} s per case in {args.rounds} rounds"
    )
    print(
        f"  study: excludes {len(EXCLUDE_GROUPS)} groups, includes 1; members spread evenly "
        "over the 6; asks: excluded, new, not_included in equal shares"
    )
    for case in cases:
        print(
            f"  {case.name}: {case.members} members (inserted in {case.insert_seconds:.1f} s), "
            f"{len(case.asks)} distinct workers asked about"
        )
        print(f"    database: {case.store.shown}")
        print(f"    server: {case.server.describe()}")
    print(f"  load average before the run: {load_average()}")

    def phase(case: Case, duration: float) -> Phase:
        return Phase(
            name="eligibility",
            port=case.server.port,
            items=case.asks,
            slug=case.slug,
            survey_key=case.survey_key,
            duration=duration,
            warm_path=f"{API}/health",
        )

    # Not timed: the first requests on a server pay for its caches and lazy imports.
    warm_up = Recorder(loader)
    for case in cases:
        warm_up.run(phase(case, min(2.0, args.seconds)), case.server, name=f"warm-up {case.name}")

    recorder = Recorder(loader)
    duration = args.seconds / args.rounds
    for round_ in range(args.rounds):
        for case in cases if round_ % 2 == 0 else cases[::-1]:
            recorder.run(phase(case, duration), case.server, round_, name=case.name)

    holds = report(
        recorder.results,
        {name: parts[0] for name, parts in warm_up.results.items()},
        cases,
        args,
    )
    print_server_problems(servers)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
