"""Admin and survey keys: random tokens shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from crowdgate.errors import NotFound
from crowdgate.models import AdminKey

ADMIN_PREFIX = "cga_"
SURVEY_PREFIX = "cgs_"


def hash_key(key: str) -> str:
    # The keys carry 192+ bits of randomness, so a fast hash is enough: there is no
    # dictionary to guess from, and lookups stay cheap on the survey hot path.
    return hashlib.sha256(key.encode()).hexdigest()


def new_survey_key() -> str:
    return SURVEY_PREFIX + secrets.token_urlsafe(24)


def create_admin_key(session: Session, *, name: str, now: datetime) -> str:
    """Store a new admin key and return it; it cannot be read back later."""
    key = ADMIN_PREFIX + secrets.token_urlsafe(32)
    session.add(AdminKey(name=name, key_hash=hash_key(key), prefix=key[:10], created_at=now))
    return key


_LIVE_ADMIN_KEY = select(AdminKey.id).where(
    AdminKey.key_hash == bindparam("key_hash"), AdminKey.revoked_at.is_(None)
)


def is_admin_key(session: Session, key: str) -> bool:
    """Whether ``key`` is an admin key that has not been revoked."""
    return session.scalar(_LIVE_ADMIN_KEY, {"key_hash": hash_key(key)}) is not None


def list_admin_keys(session: Session) -> list[AdminKey]:
    return list(session.scalars(select(AdminKey).order_by(AdminKey.id)))


def revoke_admin_key(session: Session, prefix: str, *, now: datetime) -> AdminKey:
    """Revoke the one live key starting with ``prefix`` (as `keys list` shows it)."""
    matches = [
        key
        for key in session.scalars(select(AdminKey).where(AdminKey.revoked_at.is_(None)))
        if key.prefix.startswith(prefix) or prefix.startswith(key.prefix)
    ]
    if len(matches) != 1:
        found = "no live key" if not matches else f"{len(matches)} live keys"
        raise NotFound(
            f"{found} start with {prefix!r}; give the prefix `crowdgate keys list` shows."
        )
    matches[0].revoked_at = now
    return matches[0]
