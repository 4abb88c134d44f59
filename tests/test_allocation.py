"""Condition allocation: the rule itself, and balanced places under concurrent starts."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from crowdgate.domain.allocation import choose_condition

from tests.http import ApiClient, assert_error


def conditions(**targets: int) -> list[dict[str, Any]]:
    return [{"name": name, "target": target} for name, target in targets.items()]


# --- the rule, without a database -------------------------------------------------------


def test_picks_most_room_relative_to_target():
    # b has more places left (40 against 5) but is further along its target (60% against 50%).
    assert choose_condition(conditions(a=10, b=100), {"a": 5, "b": 60}) == "a"
    assert choose_condition(conditions(a=10, b=100), {"a": 6, "b": 50}) == "b"


def test_condition_missing_from_taken_counts_as_empty():
    assert choose_condition(conditions(a=1, b=50), {"a": 0, "b": 1}) == "a"
    assert choose_condition(conditions(a=1, b=50), {"a": 1}) == "b"


def test_ties_are_broken_at_random_between_the_tied_conditions_only():
    rng = random.Random(20240601)
    options = conditions(a=10, b=20, c=10)
    taken = {"a": 3, "b": 6, "c": 4}  # a and b at 30%, c at 40%
    picks = Counter(choose_condition(options, taken, rng) for _ in range(2000))
    assert set(picks) == {"a", "b"}
    # A fair coin: 2000 draws land far inside these bounds for any seed worth using.
    assert 800 < picks["a"] < 1200, picks


def test_ties_use_the_system_random_when_no_rng_is_given():
    picks = {choose_condition(conditions(a=1, b=1), {}) for _ in range(200)}
    assert picks == {"a", "b"}


def test_when_all_are_full_the_least_over_filled_is_chosen():
    # a is at 150% of its target, b at 125%, c at 200%: b is still the best place.
    assert choose_condition(conditions(a=2, b=4, c=1), {"a": 3, "b": 5, "c": 2}) == "b"


def test_no_conditions_means_no_condition():
    assert choose_condition([], {}) is None
    assert choose_condition([], {"gone": 3}, random.Random(1)) is None


# --- concurrent starts through the live server ---------------------------------------------


def all_participants(admin: ApiClient, slug: str) -> list[dict[str, Any]]:
    """Every participant row of the study, following the list's cursor."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        response = admin.get(f"/studies/{slug}/participants", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


def together(count: int, call: Callable[[int], requests.Response]) -> list[requests.Response]:
    """Run ``call(i)`` on ``count`` threads released at the same moment by a barrier."""
    barrier = threading.Barrier(count)

    def run(index: int) -> requests.Response:
        barrier.wait(timeout=60)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def start_many(server_url: str, study: dict[str, Any], count: int) -> list[requests.Response]:
    def start(index: int) -> requests.Response:
        with ApiClient(server_url, survey_key=study["survey_key"]) as page:
            return page.post(
                f"/studies/{study['slug']}/participants/w-{index}/start",
                json={"assignment_id": f"as-{index}"},
            )

    return together(count, start)


def assert_each_pick_had_most_room(targets: dict[str, int], rows: list[dict[str, Any]]) -> None:
    """Replay the rows in start order: each one went where the share filled was lowest."""
    taken: Counter[str] = Counter()
    for row in rows:
        lowest = min(taken[name] / target for name, target in targets.items())
        assert taken[row["condition"]] / targets[row["condition"]] == lowest, (row, dict(taken))
        taken[row["condition"]] += 1


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ({"a": 50, "b": 100, "c": 50}, {"a": 50, "b": 100, "c": 50}),
        ({"a": 10, "b": 10}, {"a": 100, "b": 100}),
    ],
    ids=["fills-targets-exactly", "over-fills-evenly"],
)
def test_concurrent_starts_are_balanced(make_study, admin, server, targets, expected):
    study, _ = make_study(conditions=conditions(**targets))

    responses = start_many(server.url, study, 200)

    assert [r.status_code for r in responses] == [200] * 200, [
        r.text for r in responses if r.status_code != 200
    ][:3]
    bodies = [r.json() for r in responses]
    assert all(b["resumed"] is False and b["attempt"] == 1 for b in bodies)
    assert Counter(b["condition"] for b in bodies) == expected

    rows = all_participants(admin, study["slug"])
    assert len(rows) == 200
    assert sorted(r["worker_id"] for r in rows) == sorted(f"w-{i}" for i in range(200))
    assert Counter(r["condition"] for r in rows) == expected
    by_worker = {r["worker_id"]: r["condition"] for r in rows}
    assert all(by_worker[b["worker_id"]] == b["condition"] for b in bodies)
    # Rows list in start order, so no start may have seen a stale count.
    assert_each_pick_had_most_room(targets, rows)


def test_list_pages_follow_the_cursor(make_study, admin, server):
    study, _ = make_study(conditions=conditions(a=3, b=3))
    assert all(r.status_code == 200 for r in start_many(server.url, study, 7))

    first = admin.get(f"/studies/{study['slug']}/participants", params={"limit": 3}).json()
    assert len(first["items"]) == 3 and first["next_cursor"] is not None
    workers = [r["worker_id"] for r in all_participants(admin, study["slug"])]
    assert len(workers) == len(set(workers)) == 7


def test_concurrent_starts_of_one_worker_make_one_participant(make_study, admin, server):
    study, _ = make_study(conditions=conditions(a=5, b=5, c=5))
    path = f"/studies/{study['slug']}/participants/same-worker/start"

    def start(_: int) -> requests.Response:
        with ApiClient(server.url, survey_key=study["survey_key"]) as page:
            return page.post(path, json={"assignment_id": "as-1"})

    responses = together(50, start)

    assert [r.status_code for r in responses] == [200] * 50
    bodies = [r.json() for r in responses]
    assert len({b["condition"] for b in bodies}) == 1
    assert {b["attempt"] for b in bodies} == {1}
    assert sorted(b["resumed"] for b in bodies) == [False] + [True] * 49
    rows = all_participants(admin, study["slug"])
    assert [(r["worker_id"], r["condition"]) for r in rows] == [
        ("same-worker", bodies[0]["condition"])
    ]


# --- resuming and repeating -----------------------------------------------------------------


def test_start_again_resumes_with_the_same_condition(make_study, admin):
    study, page = make_study(conditions=conditions(a=1, b=1, c=1))
    path = f"/studies/{study['slug']}/participants/w-1/start"

    first = page.post(path, json={"assignment_id": "as-1"}).json()
    assert first["resumed"] is False and first["status"] == "started"
    # Two more workers fill the other conditions, so a fresh allocation would differ.
    for worker in ("w-2", "w-3"):
        page.post(f"/studies/{study['slug']}/participants/{worker}/start")

    again = page.post(path, json={"assignment_id": "as-1"}).json()
    assert again["resumed"] is True
    assert again["condition"] == first["condition"]
    assert again["attempt"] == 1 and again["status"] == "started"
    without_assignment = page.get(path).json()
    assert without_assignment["resumed"] is True
    assert without_assignment["condition"] == first["condition"]
    assert without_assignment["assignment_id"] == "as-1"
    assert len(all_participants(admin, study["slug"])) == 3


def test_a_new_assignment_is_refused_without_repeats(make_study, admin):
    study, page = make_study(conditions=conditions(a=5))
    path = f"/studies/{study['slug']}/participants/w-1/start"
    assert page.post(path, json={"assignment_id": "as-1"}).status_code == 200

    body = assert_error(
        page.post(path, json={"assignment_id": "as-2"}), 409, "already_participated"
    )
    assert body["reason"] == "already_participated"
    rows = all_participants(admin, study["slug"])
    assert [(r["worker_id"], r["attempt"], r["assignment_id"]) for r in rows] == [
        ("w-1", 1, "as-1")
    ]


def test_a_new_assignment_is_a_new_attempt_with_repeats(make_study, admin):
    study, page = make_study(conditions=conditions(a=5), allow_repeats=True)
    path = f"/studies/{study['slug']}/participants/w-1/start"
    first = page.post(path, json={"assignment_id": "as-1"}).json()
    assert first["attempt"] == 1

    second = page.post(path, json={"assignment_id": "as-2"})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["attempt"] == 2 and body["resumed"] is False
    assert body["assignment_id"] == "as-2" and body["condition"] == "a"
    # Starting the second assignment again resumes it rather than making a third attempt.
    assert page.post(path, json={"assignment_id": "as-2"}).json()["attempt"] == 2

    rows = all_participants(admin, study["slug"])
    assert sorted((r["attempt"], r["assignment_id"]) for r in rows) == [(1, "as-1"), (2, "as-2")]
