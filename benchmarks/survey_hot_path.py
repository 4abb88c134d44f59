"""Benchmark the survey hot path: start -> complete -> verify, and eligibility, under gunicorn.

The script makes a temporary directory, migrates a fresh database there (SQLite by
default; with --database-url, a temporary database on that PostgreSQL server), creates
an admin key, and starts two gunicorn servers with identical settings: crowdgate
(``crowdgate.wsgi:app``) and a bare Flask app whose one route returns a small JSON
object (benchmarks/bare_app.py). It creates a study over HTTP and then drives
``--clients`` concurrent simulated participants through the phases

    start        POST /api/v1/studies/{slug}/participants/{worker_id}/start
    complete     POST /api/v1/studies/{slug}/participants/{worker_id}/complete
    bare         GET  /ping?worker_id=...                      (the bare app)
    verify       GET  /api/v1/studies/{slug}/codes/verify?code=...&worker_id=...
    eligibility  GET  /api/v1/studies/{slug}/eligibility?worker_id=...

the last three in ``--rounds`` interleaved rounds, so that drift on the machine (other
processes, CPU frequency) hits crowdgate and the baseline alike. It prints, per phase,
requests per second, p50 and p99 latency, errors, and the ratio of crowdgate's
throughput to the bare app's, both measured in the same run by the same generator, so
the machine and the load generator's own cost largely cancel. Every answer is checked
(status and body); anything unexpected counts as an error.

The load generator (benchmarks/_load.py) is plain ``http.client`` with one keep-alive
connection per client thread, spread over several processes so the GIL of one process
is not the ceiling. On a small machine it still competes with the servers for CPU: that
is why the bare baseline is driven by the same generator and the ratio, not the absolute
figures, is what the targets are about. Only 127.0.0.1 is contacted (and the PostgreSQL
server named by --database-url, if any). Everything started is stopped on exit, Ctrl-C
included. The exit status is 0 when the targets hold, 1 when they do not, 2 when the
benchmark could not run, 130 when interrupted.

Run:  python benchmarks/survey_hot_path.py [--clients 64] [--workers 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from _load import Item, LoadGenerator, Phase, PhaseResult, Recorder, print_row
from _servers import (
    API,
    BenchmarkError,
    Gunicorn,
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

TARGET_RATIO = 0.60
TARGET_PHASES = ("verify", "eligibility")
TARGET_CLIENTS = 64
WIDTHS = (12, 8, 6, 7, 7, 7, 7, 7, 10, 10)


# --------------------------------------------------------------------------- report


def report(rounds: dict[str, list[PhaseResult]], args: argparse.Namespace, backend: str) -> bool:
    results = [PhaseResult.pooled(name, parts) for name, parts in rounds.items()]
    baseline = next(r for r in results if r.name == "bare").rps
    print()
    print_row(
        (
            "phase", "requests", "errors", "retries", "req/s", "vs bare",
            "p50 ms", "p99 ms", "server CPU", "client CPU",
        ),
        WIDTHS,
    )  # fmt: skip
    for r in results:
        ratio = "" if r.name == "bare" else f"{r.rps / baseline:.2f}"
        print_row(
            (
                r.name,
                str(r.requests),
                str(r.errors),
                str(r.retries),
                f"{r.rps:.0f}",
                ratio,
                f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}",
                r.cpu_ms(r.server_cpu),
                r.cpu_ms(r.client_cpu),
            ),
            WIDTHS,
        )
    print(
        f"(read phases pooled over {args.rounds} interleaved rounds; vs bare: crowdgate's req/s "
        "divided by the bare app's;\n CPU: milliseconds of CPU per request used by the server's "
        "gunicorn processes and by the load generator)"
    )
    if args.rounds > 1:
        bare_rounds = [p.rps for p in rounds["bare"]]
        print("per round: bare req/s " + " ".join(f"{x:.0f}" for x in bare_rounds), end="")
        for name in TARGET_PHASES:
            shares = [p.rps / b for p, b in zip(rounds[name], bare_rounds, strict=True)]
            print(f"; {name} vs bare " + " ".join(f"{x:.2f}" for x in shares), end="")
        print()
    for r in results:
        for sample in r.samples:
            print(f"  {r.name} error: {sample}")

    print("\ntargets")
    holds = True
    for name in TARGET_PHASES:
        found = next(r for r in results if r.name == name)
        share = found.rps / baseline
        met = share >= TARGET_RATIO
        holds &= met
        print(
            f"  {name:<12} >= {TARGET_RATIO:.2f} x bare throughput: {share:.2f}"
            f"  {'MET' if met else 'NOT MET'}"
        )
    errors = sum(r.errors for r in results)
    met = errors == 0
    holds &= met
    note = ""
    if args.clients != TARGET_CLIENTS or backend != "sqlite":
        note = (
            f" (the target is stated for {TARGET_CLIENTS} clients on SQLite; "
            f"this run: {args.clients} clients on {backend})"
        )
    print(
        f"  zero errors with {args.clients} clients: {errors} errors  "
        f"{'MET' if met else 'NOT MET'}{note}"
    )
    return holds


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Drive concurrent simulated participants through crowdgate's survey hot path "
            "and compare with a bare Flask app under identical gunicorn settings."
        )
    )
    add_run_options(parser, servers="both apps", databases="a temporary database is")
    parser.add_argument(
        "--participants", type=int, default=2000, help="workers to start and complete (2000)"
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=20000,
        help="requests in each of the verify, eligibility and bare phases (20000)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="run verify, eligibility and bare for this many seconds each instead of --requests",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help=(
            "split the read phases into this many interleaved rounds of bare, verify and "
            "eligibility, so drift on the machine hits all three alike (3)"
        ),
    )
    args = parser.parse_args(argv)
    check_at_least_one(parser, args, ("participants", "requests", "rounds"))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_guarded(
        lambda cleanup, workdir: benchmark(args, cleanup, workdir), keep_logs=args.keep_logs
    )


def benchmark(args: argparse.Namespace, cleanup: ExitStack, workdir: Path) -> int:
    loader = LoadGenerator(args.clients, args.load_processes)
    cleanup.callback(loader.stop)
    store = temporary_store(args.database_url, workdir, cleanup)
    env = crowdgate_env(store)
    admin_key = prepare_crowdgate(env, workdir)

    settings = gunicorn_settings(args.workers, args.threads)
    crowdgate = Gunicorn("crowdgate", "crowdgate.wsgi:app", settings, env, workdir)
    bare = Gunicorn("bare", "bare_app:app", settings, env, workdir)
    servers = [crowdgate, bare]
    start_servers(servers, cleanup)
    crowdgate.wait_ready(f"{API}/health")
    bare.wait_ready("/ping")

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    status, study = http_json(
        crowdgate.port,
        "POST",
        f"{API}/studies",
        {
            "slug": slug,
            "platform": "none",
            "conditions": [
                {"name": "control", "target": args.participants},
                {"name": "treatment", "target": args.participants},
            ],
        },
        {"Authorization": f"Bearer {admin_key}"},
    )
    if status != 201:
        raise BenchmarkError(f"creating the study failed: HTTP {status} {study}")

    print("crowdgate survey hot-path benchmark")
    print(f"  python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"  gunicorn (both apps): {' '.join(settings[:6])}")
    print(
        f"  load: {args.clients} keep-alive clients in {loader.processes} processes; "
        f"{args.participants} participants; "
        + (
            f"{args.duration:g} s per read phase"
            if args.duration
            else f"{args.requests} requests per read phase"
        )
        + f" in {args.rounds} rounds"
    )
    print(f"  database: {store.shown}")
    for server in servers:
        print(f"  {server.name}: {server.describe()}")
    print(f"  load average before the run: {load_average()}")

    workers = [f"bench-w{i:06d}" for i in range(args.participants)]
    common = {"slug": slug, "survey_key": study["survey_key"], "duration": None}
    on_crowdgate = {**common, "port": crowdgate.port, "warm_path": f"{API}/health"}

    def share(items: Sequence[Item], round_: int) -> Sequence[Item]:
        """This round's requests: the next stretch of the items, wrapping around."""
        if args.duration:
            return items
        first = args.requests * round_ // args.rounds
        count = args.requests * (round_ + 1) // args.rounds - first
        return [items[(first + i) % len(items)] for i in range(count)]

    recorder = Recorder(loader)

    def run(phase: Phase, round_: int | None = None) -> PhaseResult:
        return recorder.run(phase, bare if phase.port == bare.port else crowdgate, round_)

    plain = [(w, None) for w in workers]
    run(Phase(name="start", items=plain, **on_crowdgate))
    completed = run(Phase(name="complete", items=plain, **on_crowdgate))
    with_codes = [(w, completed.codes[w]) for w in workers if w in completed.codes]
    if not with_codes:
        raise BenchmarkError("no participant completed; nothing to verify")
    # Half the asks are about workers who took part, half about new ones.
    asks = [
        pair
        for i, w in enumerate(workers)
        for pair in ((w, "already_participated"), (f"bench-new{i:06d}", "new"))
    ]
    duration = args.duration / args.rounds if args.duration else None
    bare_reads = {**common, "duration": duration, "port": bare.port, "warm_path": "/ping"}
    crowdgate_reads = {**on_crowdgate, "duration": duration}
    for round_ in range(args.rounds):
        run(Phase(name="bare", items=share(plain, round_), **bare_reads), round_)
        run(Phase(name="verify", items=share(with_codes, round_), **crowdgate_reads), round_)
        run(Phase(name="eligibility", items=share(asks, round_), **crowdgate_reads), round_)

    holds = report(recorder.results, args, store.backend)
    print_server_problems(servers)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
