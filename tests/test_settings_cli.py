"""A bad CROWDGATE_* value stops the command line with a message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("value", "problem"),
    [("-1", "requests per second >= 0"), ("fast", "could not convert")],
)
def test_a_bad_setting_is_named(tmp_path: Path, value: str, problem: str) -> None:
    env = {
        **os.environ,
        "CROWDGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'crowdgate.db'}",
        "CROWDGATE_MTURK_RATE_LIMIT": value,
    }
    done = subprocess.run(
        [sys.executable, "-m", "crowdgate.cli", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "CROWDGATE_MTURK_RATE_LIMIT" in done.stderr and problem in done.stderr
    assert "Traceback" not in done.stderr
