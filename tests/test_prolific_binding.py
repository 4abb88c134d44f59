"""Exclusion groups bound to Prolific participant groups, by name or by id."""

from __future__ import annotations

from crowdgate.testing import ProlificEmulator

from tests.http import ApiClient, assert_error
from tests.test_prolific_workflow import PEOPLE, app_config, run_job  # noqa: F401


def test_bind_by_name_and_id(admin: ApiClient, prolific_emulator: ProlificEmulator) -> None:
    response = admin.put(
        "/exclusions/deception", json={"prolific_group_name": "deception-record", "mode": "live"}
    )
    assert response.status_code == 201, response.text
    binding = response.json()["binding"]
    assert binding["platform"] == "prolific"
    group_id = binding["qualification_type_id"]
    assert prolific_emulator.state.groups[group_id].name == "deception-record"
    again = admin.put(
        "/exclusions/deception", json={"prolific_group_name": "deception-record", "mode": "live"}
    )
    assert again.json()["binding"]["qualification_type_id"] == group_id
    assert len(prolific_emulator.state.groups) == 1
    by_id = admin.put("/exclusions/other", json={"prolific_group_id": group_id, "mode": "live"})
    assert by_id.status_code == 201 and by_id.json()["binding"]["platform"] == "prolific"
    assert_error(
        admin.put(
            "/exclusions/x",
            json={"prolific_group_id": group_id, "mturk_qualification_name": "q", "mode": "live"},
        ),
        422,
        "validation_error",
    )
    unbound = admin.put("/exclusions/other", json={"prolific_group_id": None})
    assert unbound.status_code == 200 and unbound.json()["binding"] is None
    admin.post("/exclusions/deception/members", json={"add_worker_ids": PEOPLE[:2]})
    done = run_job(admin, "/exclusions/deception/sync", dry_run=False, confirm="live")
    assert done["job"]["counts"]["granted"] == 2
    assert sorted(prolific_emulator.state.groups[group_id].members) == PEOPLE[:2]
