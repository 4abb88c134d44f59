"""Completion codes: unguessable, unique within a study, and easy to copy by hand."""

from __future__ import annotations

import secrets

# No 0/O, 1/I/l: participants retype codes from the screen into the platform's form.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
LENGTH = 10  # 32**10 = 2**50 codes: far beyond guessing, short enough to copy.


def generate_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise_code(text: str) -> str:
    """Forgive what people do when copying: spaces, dashes and lower case."""
    return "".join(ch for ch in text.upper() if ch not in " \t\r\n-")
