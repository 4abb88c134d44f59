"""Fixtures for anything that talks to MTurk: crowdgate's emulator on a real socket.

- ``mturk_emulator``: a running ``crowdgate.testing.MTurkEmulator`` (free port,
  seed 0, balance $10,000.00), stopped after the test. Use:

  - ``.url``: the endpoint URL (give it to boto3 or CROWDGATE_MTURK_ENDPOINT_URL);
  - ``.seed_hit(assignments=N, workers=[...], answers={...} or [{...}, ...],
    statuses="Submitted" or [...], submit_times=..., reward="1.00", max_assignments=...)``
    -> ``SeededHIT(hit_id, assignment_ids, worker_ids)``; ``.seed_hits(count, **same)``;
    ``.seed_workers([...])`` makes workers known (NotifyWorkers fails for unknown ones);
  - ``.state``: the ``EmulatorState`` (``.hits``, ``.assignments`` (each with
    ``status``, ``times_approved``, ``feedback``), ``.bonuses``, ``.grants``,
    ``.messages``, ``.balance``, ``.qualification_types``);
  - ``.faults``: ``.configure(throttle_rate=, error_rate=, latency_ms=,
    commit_then_fail={"ApproveAssignment": "500" or "drop"}, seed=)``,
    ``.fail_next("SendBonus", "throttle"|"error"|"500"|"drop", times=1)``, and the
    counters ``.calls[op]`` (requests received), ``.committed[op]`` (took effect),
    ``.injected[kind]``;
  - ``.reset()``, ``.set_balance("12.00")``.
- ``mturk_env``: the emulator's URL, with fake AWS credentials and region in the
  environment (so boto3's usual credential chain finds them) and
  ``CROWDGATE_MTURK_ENDPOINT_URL`` set to it.
- ``mturk_client(url, **config)``: a real boto3 MTurk client pointed at ``url``
  (standard retry mode with 5 attempts unless ``retries=`` says otherwise).
- ``mturk``: ``mturk_client(mturk_emulator.url)``, for tests that just need a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from crowdgate.testing import MTurkEmulator

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAEMULATOREXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "emulator-secret-not-checked",
    "AWS_DEFAULT_REGION": "us-east-1",
}


_open_clients: list[Any] = []


def mturk_client(url: str, **config: Any) -> Any:
    """A boto3 MTurk client for ``url`` with fake credentials and quick, bounded retries.

    Clients made during a test are closed after it (an unclosed connection pool
    would trip pytest's unraisable-exception check in some later test).
    """
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "total_max_attempts": 5},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    options.update(config)
    client = boto3.session.Session().client(
        "mturk",
        endpoint_url=url,
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(**options),
    )
    _open_clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_mturk_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


@pytest.fixture
def mturk_emulator() -> Iterator[MTurkEmulator]:
    with MTurkEmulator(seed=0) as emulator:
        yield emulator


@pytest.fixture
def mturk_env(mturk_emulator: MTurkEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    # No shared files: a developer's ~/.aws must not change what the tests see.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("CROWDGATE_MTURK_ENDPOINT_URL", mturk_emulator.url)
    return mturk_emulator.url


@pytest.fixture
def mturk(mturk_emulator: MTurkEmulator) -> Any:
    return mturk_client(mturk_emulator.url)
