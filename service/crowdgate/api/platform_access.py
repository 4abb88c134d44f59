"""The platform client a view needs for a study, built once per app, platform and mode."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from flask import Flask, current_app

from crowdgate.domain.sealing import unseal
from crowdgate.domain.study_accounts import StudyAccount, account_of
from crowdgate.errors import Conflict
from crowdgate.models import Study
from crowdgate.platforms import PlatformClient, PlatformSettings, get_platform
from crowdgate.platforms.prolific_http import Secret

_CACHE_KEY = "crowdgate.platform_clients"


class _ClientCache:
    """One client per (platform, mode) for one app; boto3 clients and the Prolific
    client's requests Session are shared by threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: dict[tuple[str, str, StudyAccount | None], PlatformClient] = {}


def platform_settings(app: Flask, platform: str) -> PlatformSettings:
    """The settings that reach ``platform``, from the app's CROWDGATE_* config."""
    config = app.config
    if platform == "mturk":
        return PlatformSettings(
            endpoint_url=config.get("CROWDGATE_MTURK_ENDPOINT_URL") or None,
            max_attempts=int(config.get("CROWDGATE_MTURK_MAX_ATTEMPTS", 5)),
            timeout=float(config.get("CROWDGATE_MTURK_TIMEOUT", 30.0)),
            rate_limit=float(config.get("CROWDGATE_MTURK_RATE_LIMIT") or 0) or None,
        )
    if platform == "prolific":
        # One API for both modes: Prolific has no sandbox.
        return PlatformSettings(
            endpoint_url=config.get("CROWDGATE_PROLIFIC_API_URL") or None,
            max_attempts=int(config.get("CROWDGATE_PROLIFIC_MAX_ATTEMPTS", 5)),
            timeout=float(config.get("CROWDGATE_PROLIFIC_TIMEOUT", 30.0)),
            rate_limit=float(config.get("CROWDGATE_PROLIFIC_RATE_LIMIT") or 0) or None,
            options={
                "token": Secret(str(config.get("CROWDGATE_PROLIFIC_TOKEN") or "")),
                "workspace_id": config.get("CROWDGATE_PROLIFIC_WORKSPACE_ID") or "",
                "currency": config.get("CROWDGATE_PROLIFIC_CURRENCY") or "GBP",
                "pay_settle_seconds": float(
                    config.get("CROWDGATE_PROLIFIC_PAY_SETTLE_SECONDS", 600.0)
                ),
            },
        )
    return PlatformSettings()


def account_settings(
    app: Flask, settings: PlatformSettings, account: StudyAccount
) -> PlatformSettings:
    """``settings`` with a study's own token (unsealed) and workspace in place of the
    settings' ones."""
    options = dict(settings.options)
    if account.token_sealed is not None:
        key = app.config.get("CROWDGATE_SECRET_KEY")
        if not key:
            raise Conflict(
                "A study holds its own platform token, but CROWDGATE_SECRET_KEY is not set "
                "where crowdgate runs, so the token cannot be read.",
                code="secret_key_not_set",
            )
        options["token"] = Secret(unseal(str(key), account.token_sealed))
    if account.workspace_id is not None:
        options["workspace_id"] = account.workspace_id
    return dataclasses.replace(settings, options=options)


def client_for(
    app: Flask, platform: str, mode: str, account: StudyAccount | None = None
) -> PlatformClient:
    """The app's client for ``platform`` in ``mode`` (with a study's own ``account``);
    made on first use, then reused.

    Raises NotSupported (409) for a platform that has nothing to call.
    """
    cache: Any = app.extensions.get(_CACHE_KEY)
    if cache is None:
        # setdefault keeps whichever cache a racing first request stored.
        cache = app.extensions.setdefault(_CACHE_KEY, _ClientCache())
    key = (platform, mode, account)
    client: PlatformClient | None = cache.clients.get(key)
    if client is not None:
        return client
    with cache.lock:
        client = cache.clients.get(key)
        if client is None:
            settings = platform_settings(app, platform)
            if account is not None:
                settings = account_settings(app, settings, account)
            client = get_platform(platform).connect(mode, settings)
            cache.clients[key] = client
    return client


def close_clients(app: Flask) -> None:
    """Close the app's platform clients (at shutdown, or when a test's app is done)."""
    cache: Any = app.extensions.pop(_CACHE_KEY, None)
    if cache is None:
        return
    with cache.lock:
        for client in cache.clients.values():
            client.close()
        cache.clients.clear()


def platform_client(study: Study) -> PlatformClient:
    """The client for ``study``'s platform, mode and account, for the current app's views."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return client_for(app, study.platform, study.mode, account_of(study))
