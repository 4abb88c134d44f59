"""Binding exclusion groups to Prolific participant groups from the SDK and the CLI,
against a live server that finds and makes the groups on the Prolific emulator."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crowdgate.testing import ProlificEmulator
from crowdgate_client import (
    Client,
    GroupBinding,
    NotFoundError,
    SavedExclusionGroup,
    ValidationError,
)

from tests.prolific_fixtures import prolific_settings
from tests.test_cli_researcher import assert_one_line_error, run
from tests.test_exclusions_cli import fields, ok
from tests.test_sdk_client import Recorder

PEOPLE = [f"{n:024x}" for n in range(0xC1, 0xC4)]
GROUP_NAME = "deception-record"
SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def app_config(app_config: dict[str, Any], prolific_env: ProlificEmulator) -> dict[str, Any]:
    return {
        **app_config,
        **prolific_settings(prolific_env, max_attempts=2),
    }


@pytest.fixture
def sdk(server: Any, admin_key: str) -> Iterator[Client]:
    with Client(server.url, admin_key) as client:
        yield client


@pytest.fixture
def cg(server: Any, admin_key: str, tmp_path: Path) -> Any:
    """Run `crowdgate exclusions ...` with the service's URL and key in the environment."""
    env = {"CROWDGATE_URL": server.url, "CROWDGATE_API_KEY": admin_key}

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run("exclusions", *args, env=env, cwd=tmp_path, **kwargs)

    return call


def test_sdk_binds_by_name_then_by_id(sdk: Client, prolific_emulator: ProlificEmulator) -> None:
    group = sdk.put_exclusion_group("deception", prolific_group_name=GROUP_NAME, mode="live")
    assert isinstance(group, SavedExclusionGroup) and group.created is True
    binding = group.binding
    assert isinstance(binding, GroupBinding)
    assert (binding.platform, binding.mode) == ("prolific", "live")
    group_id = binding.prolific_group_id
    assert group_id is not None and prolific_emulator.state.groups[group_id].name == GROUP_NAME
    assert binding.prolific_group_name == GROUP_NAME
    assert binding.qualification_type_id == group_id

    # The same name finds the group Prolific has: nothing new is made there.
    again = sdk.put_exclusion_group("deception", prolific_group_name=GROUP_NAME, mode="live")
    assert again.created is False and again.binding == binding
    assert list(prolific_emulator.state.groups) == [group_id]

    by_id = sdk.put_exclusion_group("other", prolific_group_id=group_id, mode="sandbox")
    assert by_id.binding is not None
    assert (by_id.binding.prolific_group_id, by_id.binding.prolific_group_name) == (group_id, None)
    assert sdk.get_exclusion_group("other").binding == by_id.binding
    listed = {g.name: g.binding for g in sdk.exclusion_groups()}
    assert listed == {"deception": binding, "other": by_id.binding}

    # Syncing the group fills the participant group on Prolific.
    sdk.change_exclusion_members("deception", add_worker_ids=PEOPLE[:2])
    sdk.sync_exclusion_group("deception", dry_run=False, confirm="live")
    assert sorted(prolific_emulator.state.groups[group_id].members) == PEOPLE[:2]

    unbound = sdk.put_exclusion_group("other", unbind=True)
    assert unbound.binding is None
    assert list(prolific_emulator.state.groups) == [group_id]  # left alone on Prolific


def test_sdk_prolific_fields_are_not_mturk_fields(sdk: Client) -> None:
    group = sdk.put_exclusion_group("mturk", mturk_qualification_type_id="3QUALTYPE", mode="live")
    assert group.binding is not None and group.binding.platform == "mturk"
    assert group.binding.prolific_group_id is None
    assert group.binding.prolific_group_name is None


def test_sdk_refuses_two_bindings_and_bad_ids(
    sdk: Client, prolific_emulator: ProlificEmulator
) -> None:
    with pytest.raises(ValidationError) as both:
        sdk.put_exclusion_group(
            "both", mturk_qualification_name="q", prolific_group_name=GROUP_NAME, mode="live"
        )
    assert both.value.code == "validation_error"
    assert "not several" in both.value.message
    assert set(both.value.fields) & {"mturk_qualification_name", "prolific_group_name"}
    with pytest.raises(NotFoundError):
        sdk.get_exclusion_group("both")
    assert prolific_emulator.state.groups == {}  # refused before Prolific was asked

    with pytest.raises(ValidationError) as bad_id:
        sdk.put_exclusion_group("g", prolific_group_id="not-hex", mode="live")
    assert "prolific_group_id" in bad_id.value.fields
    with pytest.raises(ValidationError) as no_mode:
        sdk.put_exclusion_group("g", prolific_group_name=GROUP_NAME)
    assert "mode" in no_mode.value.fields
    with pytest.raises(TypeError, match="unbind"):
        sdk.put_exclusion_group("g", unbind=True, prolific_group_name=GROUP_NAME)
    with pytest.raises(TypeError, match="unbind"):
        sdk.put_exclusion_group("g", unbind=True, prolific_group_id="0" * 24)
    assert prolific_emulator.state.groups == {}


@SQLITE
def test_sdk_sends_only_what_is_given(server: Any, admin_key: str) -> None:
    recorder = Recorder()
    try:
        with Client(server.url, admin_key, session=recorder.session) as client:
            client.put_exclusion_group("g", prolific_group_name=GROUP_NAME, mode="live")
            client.put_exclusion_group("h", prolific_group_id="a" * 24, mode="live")
    finally:
        recorder.session.close()
    assert recorder.bodies("PUT") == [
        {"prolific_group_name": GROUP_NAME, "mode": "live"},
        {"prolific_group_id": "a" * 24, "mode": "live"},
    ]


@SQLITE
def test_cli_put_show_and_list_a_prolific_binding(
    cg: Any, prolific_emulator: ProlificEmulator
) -> None:
    created = ok(cg("put", "deception", "--prolific-group-name", GROUP_NAME, "--mode", "live"))
    assert "created deception" in created.stderr
    shown = fields(created.stdout)
    (group_id,) = prolific_emulator.state.groups
    assert (shown["platform"], shown["mode"]) == ("prolific", "live")
    assert shown["participant group"] == group_id
    assert shown["participant group name"] == GROUP_NAME
    assert "qualification" not in shown

    by_id = ok(cg("put", "other", "--prolific-group-id", group_id, "--mode", "live", "--json"))
    body = json.loads(by_id.stdout)
    assert body["created"] is True
    assert body["binding"] == {
        "platform": "prolific",
        "mode": "live",
        "qualification_type_id": group_id,
        "qualification_name": None,
    }
    assert fields(ok(cg("show", "other")).stdout)["participant group name"] == "-"

    header, *rows = ok(cg("list")).stdout.splitlines()
    assert header.split() == [
        "name", "members", "records", "excludes", "from", "platform", "bound", "to", "mode"
    ]  # fmt: skip
    assert [row.split()[-3:] for row in rows] == [["prolific", group_id, "live"]] * 2

    unbound = fields(ok(cg("put", "other", "--unbind")).stdout)
    assert (unbound["platform"], unbound["qualification"]) == ("-", "-")
    assert list(prolific_emulator.state.groups) == [group_id]


@SQLITE
def test_cli_refuses_two_bindings_before_asking(
    cg: Any, prolific_emulator: ProlificEmulator
) -> None:
    both = cg(
        "put", "both", "--qualification-name", "q", "--prolific-group-name", GROUP_NAME,
        "--mode", "live",
    )  # fmt: skip
    assert_one_line_error(both, 2, "one binding", "--qualification-name", "--prolific-group-name")
    unbind = cg("put", "both", "--unbind", "--prolific-group-id", "a" * 24)
    assert_one_line_error(unbind, 2, "--unbind", "--prolific-group-id")
    assert_one_line_error(cg("show", "both"), 1, "No exclusion group is named 'both'")
    assert prolific_emulator.state.groups == {}

    bad = cg("put", "g", "--prolific-group-id", "nothex", "--mode", "live")
    assert_one_line_error(bad, 1, "prolific_group_id")
    assert len(bad.stderr.strip().splitlines()) == 1
