"""The pacer that keeps a platform client under its rate limit."""

from __future__ import annotations

import threading

import pytest
from crowdgate.platforms.pacing import Pacer


class ManualTime:
    """A clock that moves only when a caller sleeps, so slots can be read exactly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()
        self.woke_at: list[float] = []

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.woke_at.append(self.now + seconds)


def test_calls_are_spread_one_interval_apart() -> None:
    time = ManualTime()
    pacer = Pacer(20, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        pacer.wait()
    # The first goes at once; each later one waits for its own slot, 50 ms apart.
    assert time.woke_at == pytest.approx([100.05, 100.10, 100.15, 100.20])


def test_an_idle_spell_earns_no_burst() -> None:
    time = ManualTime()
    pacer = Pacer(10, clock=time.clock, sleep=time.sleep)
    pacer.wait()
    time.now += 5.0
    pacer.wait()
    pacer.wait()
    assert time.woke_at == pytest.approx([105.1])


def test_threads_share_the_slots() -> None:
    time = ManualTime()
    pacer = Pacer(100, clock=time.clock, sleep=time.sleep)
    threads = [threading.Thread(target=lambda: [pacer.wait() for _ in range(25)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 100 calls from four threads took 100 distinct slots, 10 ms apart.
    assert sorted(time.woke_at) == pytest.approx([100 + n / 100 for n in range(1, 100)])


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        Pacer(rate)
