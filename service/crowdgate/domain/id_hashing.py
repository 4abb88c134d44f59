"""Worker ids replaced by a keyed hash, so a lab can share its participation record
without sharing the ids: the same id under the same key always gives the same hash,
and without the key the hash cannot be traced back or recomputed.

A hashed listing still has to say where its next page starts, which is a raw id; it
hands that out sealed (encrypted and authenticated under the same key), so the cursor
gives away no more than the hashes do.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

#: Sealed text is padded to a multiple of this, so a cursor hardly tells an id's length.
_BLOCK = 32
_NONCE = 16
_TAG = 16


def hash_worker_id(key: str, worker_id: str) -> str:
    return hmac.new(key.encode(), worker_id.encode(), hashlib.sha256).hexdigest()


def _subkey(key: str, purpose: bytes) -> bytes:
    # Separate keys for sealing and its check, neither usable to compute an id's hash.
    return hmac.new(key.encode(), b"crowdgate cursor " + purpose, hashlib.sha256).digest()


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (length + 31) // 32
    return b"".join(
        hmac.new(key, nonce + n.to_bytes(4, "big"), hashlib.sha256).digest() for n in range(blocks)
    )[:length]


def seal(key: str, text: str) -> str:
    """``text`` encrypted and authenticated under ``key``, as URL-safe text.

    HMAC-SHA256 in counter mode with a random nonce, then HMAC-SHA256 over nonce and
    ciphertext (encrypt-then-MAC): only the standard library is needed.
    """
    plain = text.encode()
    plain = plain.ljust(max(_BLOCK, len(plain) + -len(plain) % _BLOCK), b"\x00")
    nonce = os.urandom(_NONCE)
    stream = _keystream(_subkey(key, b"encryption"), nonce, len(plain))
    sealed = nonce + bytes(a ^ b for a, b in zip(plain, stream, strict=True))
    tag = hmac.new(_subkey(key, b"authentication"), sealed, hashlib.sha256).digest()[:_TAG]
    return base64.urlsafe_b64encode(sealed + tag).decode().rstrip("=")


def unseal(key: str, token: str) -> str | None:
    """The text ``seal`` sealed under ``key``; None for anything it did not make."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _NONCE + _BLOCK + _TAG or (len(raw) - _NONCE - _TAG) % _BLOCK:
        return None
    sealed, tag = raw[:-_TAG], raw[-_TAG:]
    expected = hmac.new(_subkey(key, b"authentication"), sealed, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, expected[:_TAG]):
        return None
    nonce, body = sealed[:_NONCE], sealed[_NONCE:]
    stream = _keystream(_subkey(key, b"encryption"), nonce, len(body))
    plain = bytes(a ^ b for a, b in zip(body, stream, strict=True)).rstrip(b"\x00")
    try:
        return plain.decode()
    except UnicodeDecodeError:
        return None
