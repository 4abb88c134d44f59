"""A study's own platform account: an API token (sealed) and a workspace, for a lab
whose studies run under different accounts or workspaces. Without one, a study uses
the account crowdgate's settings name (CROWDGATE_PROLIFIC_TOKEN, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from crowdgate.models import Study


@dataclass(frozen=True)
class StudyAccount:
    #: The token as sealed by domain/sealing.py; None: the settings' token.
    token_sealed: str | None
    #: None: the settings' workspace.
    workspace_id: str | None


def account_of(study: Study) -> StudyAccount | None:
    if study.platform_token_sealed is None and study.platform_workspace_id is None:
        return None
    return StudyAccount(study.platform_token_sealed, study.platform_workspace_id)
