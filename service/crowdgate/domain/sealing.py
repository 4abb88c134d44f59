"""Secrets crowdgate keeps in its database (a study's own platform token), sealed with
CROWDGATE_SECRET_KEY: Fernet (AES-128-CBC with an HMAC-SHA256), from the well-kept
``cryptography`` library, so a copy of the database alone reveals no token."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from crowdgate.errors import Conflict

#: Why a Fernet key is derived rather than the setting used as one: any passphrase of
#: enough length works, and the same one always gives the same key.
_CONTEXT = b"crowdgate-sealing-v1:"
MIN_KEY_LENGTH = 16


def _fernet(key: str) -> Fernet:
    digest = hashlib.sha256(_CONTEXT + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(key: str, secret: str) -> str:
    return _fernet(key).encrypt(secret.encode()).decode("ascii")


def unseal(key: str, sealed: str) -> str:
    try:
        return _fernet(key).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise Conflict(
            "A study's stored platform token cannot be read with this CROWDGATE_SECRET_KEY "
            "(it was sealed with another): set the study's platform_token again.",
            code="sealed_secret_unreadable",
        ) from None
