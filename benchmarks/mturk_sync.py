"""Benchmark sync: 10,000 assignments on 100 HITs, crowdgate against a bare boto3 loop.

The MTurk emulator runs in its own process (``crowdgate mturk-emulator``), seeded over
its ``/_emulator/seed`` endpoint, so neither side's time or memory includes serving.
In the same run, alternating, it measures

    crowdgate  POST /api/v1/studies/{slug}/sync on a fresh study holding the 100 HIT ids
               (the real request and job code path: adapter, paginators, parsing the
               answers' XML, batched upserts into the database)
    bare       a boto3 ``list_assignments_for_hit`` paginator over the same HITs that
               only counts what it gets: no parsing, no database

and prints wall time and peak Python memory (tracemalloc, in separate traced runs so
tracing does not slow the timed ones) for each, and crowdgate's figures divided by the
bare loop's. SQLite (a temporary file) by default; --database-url for PostgreSQL
(a temporary database is made on that server and dropped afterwards).

Run:  python benchmarks/mturk_sync.py [--hits 100] [--per-hit 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIAEMULATOREXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "emulator-secret-not-checked",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "crowdgate.cli", "mturk-emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the MTurk emulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def seed(url: str, hits: int, per_hit: int) -> list[str]:
    request = urllib.request.Request(
        f"{url}/_emulator/seed",
        data=json.dumps({"hits": hits, "assignments": per_hit}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return [hit["hit_id"] for hit in json.load(response)["hits"]]


@contextmanager
def database(url: str | None, directory: Path) -> Iterator[str]:
    if url is None:
        yield f"sqlite:///{directory / 'crowdgate.db'}"
        return
    from crowdgate.db import normalise_url

    server = make_url(normalise_url(url))
    name = f"cg_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class CrowdgateSync:
    """Syncs a fresh study each time, through the app's real request handling."""

    def __init__(self, db_url: str, endpoint: str, hit_ids: list[str]) -> None:
        from crowdgate import create_app
        from crowdgate.db import Database
        from crowdgate.domain.keys import create_admin_key
        from crowdgate.schema_version import upgrade

        fresh = Database(db_url)
        upgrade(fresh.engine)
        fresh.dispose()
        self.app = create_app(
            {"CROWDGATE_DATABASE_URL": db_url, "CROWDGATE_MTURK_ENDPOINT_URL": endpoint}
        )
        db = self.app.extensions["crowdgate"].db
        with db.write() as session:
            key = create_admin_key(session, name="benchmark", now=datetime.now(UTC))
        self.client = self.app.test_client()
        self.headers = {"Authorization": f"Bearer {key}"}
        self.hit_ids = hit_ids
        self.count = 0

    def __call__(self) -> int:
        self.count += 1
        slug = f"bench-{self.count}"
        body = {"slug": slug, "platform": "mturk", "mode": "sandbox", "hit_ids": self.hit_ids}
        created = self.client.post("/api/v1/studies", json=body, headers=self.headers)
        assert created.status_code == 201, created.get_data(as_text=True)
        answer = self.client.post(f"/api/v1/studies/{slug}/sync", headers=self.headers)
        job = answer.get_json()["job"]
        if job["state"] != "succeeded":
            raise SystemExit(f"the sync failed: {job['error']}")
        return int(job["counts"]["added"])


class BareLoop:
    def __init__(self, endpoint: str, hit_ids: list[str]) -> None:
        self.client = boto3.session.Session().client(
            "mturk",
            endpoint_url=endpoint,
            region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
            config=Config(retries={"mode": "adaptive", "max_attempts": 5}),
        )
        self.hit_ids = hit_ids

    def __call__(self) -> int:
        seen = 0
        paginator = self.client.get_paginator("list_assignments_for_hit")
        for hit_id in self.hit_ids:
            for page in paginator.paginate(HITId=hit_id, PaginationConfig={"PageSize": 100}):
                seen += len(page["Assignments"])
        return seen


def timed(run: Callable[[], int]) -> tuple[float, int]:
    gc.collect()
    started = time.perf_counter()
    count = run()
    return time.perf_counter() - started, count


def traced(run: Callable[[], int]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--per-hit", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    args = parser.parse_args(argv)
    os.environ.update(FAKE_AWS)
    expected = args.hits * args.per_hit
    with (
        tempfile.TemporaryDirectory(prefix="cg-sync-bench-") as directory,
        emulator() as endpoint,
        database(args.database_url, Path(directory)) as db_url,
    ):
        hit_ids = seed(endpoint, args.hits, args.per_hit)
        crowdgate, bare = CrowdgateSync(db_url, endpoint, hit_ids), BareLoop(endpoint, hit_ids)
        bare()  # warm both: imports, connections, the service model
        crowdgate()
        times: dict[str, list[float]] = {"crowdgate": [], "bare": []}
        for _ in range(args.rounds):
            for name, run in (("bare", bare), ("crowdgate", crowdgate)):
                seconds, count = timed(run)
                if count != expected:
                    raise SystemExit(f"{name} saw {count} assignments, not {expected}")
                times[name].append(seconds)
        peaks = {"bare": traced(bare), "crowdgate": traced(crowdgate)}
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"sync of {expected} assignments on {args.hits} HITs ({backend}, {args.rounds} rounds)")
    print(f"{'':10} {'median s':>10} {'min s':>8} {'assign/s':>10} {'peak MiB':>9}")
    for name in ("bare", "crowdgate"):
        median = statistics.median(times[name])
        print(
            f"{name:10} {median:10.2f} {min(times[name]):8.2f} {expected / median:10.0f} "
            f"{peaks[name] / 2**20:9.1f}"
        )
    time_ratio = statistics.median(times["crowdgate"]) / statistics.median(times["bare"])
    memory_ratio = peaks["crowdgate"] / peaks["bare"]
    print(f"crowdgate / bare: time x{time_ratio:.2f}, peak memory x{memory_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
