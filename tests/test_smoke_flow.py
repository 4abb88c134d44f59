"""One participant's whole path over HTTP, as the README's quickstart shows it."""

from __future__ import annotations

from tests.http import assert_error


def test_start_state_complete_verify(make_study, admin):
    study, page = make_study(conditions=[{"name": "control", "target": 5}])
    base = f"/studies/{study['slug']}/participants/w-1"

    started = page.post(f"{base}/start", json={"assignment_id": "a-1"}).json()
    assert started["condition"] == "control" and started["status"] == "started"

    assert page.patch(f"{base}/state", json={"trial": 3}).json() == {"trial": 3}
    code = page.post(f"{base}/complete").json()["completion_code"]

    verified = page.get(
        f"/studies/{study['slug']}/codes/verify", params={"code": code, "worker_id": "w-1"}
    ).json()
    assert verified == {"valid": True, "worker_id": "w-1"}
    assert_error(page.get(f"/studies/{study['slug']}/participants"), 403, "admin_key_required")
    listed = admin.get(f"/studies/{study['slug']}/participants").json()
    assert [p["completion_code"] for p in listed["items"]] == [code]
