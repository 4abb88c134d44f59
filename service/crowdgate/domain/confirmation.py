"""The one rule for acting in live mode: the request must say ``confirm: "live"``."""

from __future__ import annotations

from crowdgate.errors import ValidationFailed


def require_live_confirmation(mode: str, confirm: str | None, *, why: str, when: str) -> None:
    """Refuse a live-mode action unless the request confirmed it.

    ``why`` says, in a sentence, what the action would do to real people or money;
    ``when`` finishes "must be "live" ..." for the field's problem.
    """
    if mode == "live" and confirm != "live":
        raise ValidationFailed(
            f'{why} Send confirm: "live" to go ahead.',
            code="confirmation_required",
            fields={"confirm": [f'must be "live" {when}']},
        )
