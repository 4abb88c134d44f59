"""Every setting crowdgate reads, in one place.

Each key carries the ``CROWDGATE_`` prefix. Defaults go into ``app.config`` with
``setdefault`` so that a host application's own values win; the standalone service
also reads each key from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    #: A credential: its value is never shown, not even in an error about it.
    secret: bool = False


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _rate(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise ValueError(f"expected a number of requests per second >= 0, got {text!r}")
    return value


def _currency(text: str) -> str:
    value = text.strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise ValueError(f"expected a three-letter currency code such as GBP, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _days(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"expected a whole number of days >= 1, got {text!r}")
    return value


def _secret_key(text: str) -> str:
    if len(text) < 16:
        raise ValueError("expected at least 16 characters (a long random passphrase)")
    return text


JOB_RUNNERS = ("inline", "queue")


def _job_runner(text: str) -> str:
    value = text.strip().lower()
    if value not in JOB_RUNNERS:
        raise ValueError(f"expected one of {', '.join(JOB_RUNNERS)}, got {text!r}")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CROWDGATE_DATABASE_URL",
        "sqlite:///crowdgate.db",
        str,
        "SQLAlchemy URL of the database (sqlite:///file.db or postgresql://...).",
    ),
    Setting(
        "CROWDGATE_REQUIRE_CURRENT_SCHEMA",
        True,
        _bool,
        "Refuse to start when the database needs `crowdgate db upgrade`.",
    ),
    Setting("CROWDGATE_DB_POOL_SIZE", 10, int, "Database connections kept open per process."),
    Setting(
        "CROWDGATE_SQLITE_BUSY_TIMEOUT", 30.0, float, "Seconds a SQLite writer waits for the lock."
    ),
    Setting(
        "CROWDGATE_SURVEY_RATE_LIMIT",
        "1200 per minute",
        str,
        "Rate limit of survey endpoints per survey key and client address.",
    ),
    Setting(
        "CROWDGATE_RATELIMIT_STORAGE_URI",
        "memory://",
        str,
        "Storage for the survey rate-limit counters, in the `limits` library's URI form "
        "(memory:// or redis://...).",
    ),
    Setting("CROWDGATE_MAX_BODY_BYTES", 1024 * 1024, int, "Largest request body, in bytes."),
    Setting(
        "CROWDGATE_MAX_STATE_BYTES",
        64 * 1024,
        int,
        "Largest participant state in bytes of compact JSON.",
    ),
    Setting(
        "CROWDGATE_DEFAULT_LEASE_MINUTES",
        60,
        int,
        "Lease of a started participant's place, when the study does not set one.",
    ),
    Setting(
        "CROWDGATE_TRUSTED_PROXIES",
        0,
        int,
        "Proxies in front of the service whose X-Forwarded-* headers are trusted.",
    ),
    Setting(
        "CROWDGATE_MTURK_ENDPOINT_URL",
        None,
        str,
        "MTurk endpoint for both modes, e.g. crowdgate's emulator (http://127.0.0.1:9000); "
        "unset: MTurk's own sandbox and live endpoints.",
    ),
    Setting(
        "CROWDGATE_MTURK_MAX_ATTEMPTS",
        5,
        int,
        "Attempts per MTurk call (botocore's standard retries) before it counts as unavailable.",
    ),
    Setting(
        "CROWDGATE_MTURK_RATE_LIMIT",
        0.0,
        _rate,
        "Requests per second this process sends to MTurk, retries included (0: no cap).",
    ),
    Setting(
        "CROWDGATE_MTURK_TIMEOUT",
        30.0,
        float,
        "Seconds to wait for MTurk to connect, and then for each answer.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_API_URL",
        None,
        str,
        "Prolific API root for both modes (Prolific has no sandbox), e.g. crowdgate's "
        "emulator (http://127.0.0.1:9100); unset: https://api.prolific.com/api/v1/.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_TOKEN",
        None,
        str,
        "Prolific API token (Prolific's Settings > API tokens), sent as "
        "`Authorization: Token ...`; never logged or shown.",
        secret=True,
    ),
    Setting(
        "CROWDGATE_PROLIFIC_WORKSPACE_ID",
        None,
        str,
        "Prolific workspace where participant groups are made and whose balance is "
        "reported; unset: the account's balance, and no groups can be created.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_MAX_ATTEMPTS",
        5,
        int,
        "Attempts per Prolific call (throttling always; 5xx only for reads and idempotent "
        "calls) before it counts as unavailable.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_RATE_LIMIT",
        0.0,
        _rate,
        "Requests per second this process sends to Prolific, retries included (0: no cap).",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_TIMEOUT",
        30.0,
        float,
        "Seconds to wait for Prolific to connect, and then for each answer.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_CURRENCY",
        "GBP",
        _currency,
        "The currency of the Prolific workspace's studies, bonuses and balance (GBP, or "
        "USD for a workspace made in dollars); amounts are sent and shown in it.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_PAY_SETTLE_SECONDS",
        600.0,
        _seconds,
        "Seconds Prolific may take to show a bonus pay whose answer was lost (it pays "
        '"in the following minutes"); until then crowdgate keeps looking for the '
        "payments and never pays that batch again.",
    ),
    Setting(
        "CROWDGATE_PROLIFIC_WEBHOOK_SECRET",
        None,
        str,
        "The workspace's hook secret (Prolific's POST /api/v1/hooks/secrets/) that signs "
        "hooks sent to /api/v1/webhooks/prolific; unset: that endpoint refuses every hook.",
        secret=True,
    ),
    Setting(
        "CROWDGATE_WEBHOOK_EVENT_RETENTION_DAYS",
        30,
        _days,
        "Days a hook's event id is kept to drop repeats of it (Prolific repeats an event "
        "for far less); older ids are deleted as hooks arrive, at most hourly per process.",
    ),
    Setting(
        "CROWDGATE_JOB_STALE_SECONDS",
        300,
        int,
        "Seconds without progress after which a running job counts as dead and may be resumed.",
    ),
    Setting(
        "CROWDGATE_JOB_RUNNER",
        "inline",
        _job_runner,
        "Who runs jobs: `inline` (the request that starts a job runs it) or `queue` (the "
        "request only queues it; `crowdgate worker` or `crowdgate serve`'s runner runs it).",
    ),
    Setting(
        "CROWDGATE_BONUS_CONCURRENCY",
        16,
        int,
        "Bonuses a bonus job sends at the same time (1 to 64).",
    ),
    Setting(
        "CROWDGATE_SECRET_KEY",
        None,
        _secret_key,
        "Passphrase (16 characters or more) that seals a study's own platform token in the "
        "database; unset: studies cannot hold tokens and use CROWDGATE_PROLIFIC_TOKEN. "
        "Changing it makes stored tokens unreadable until they are set again.",
        secret=True,
    ),
    Setting(
        "CROWDGATE_ID_HASH_KEY",
        None,
        str,
        "Secret for exporting groups with hashed worker ids (HMAC-SHA256); unset: no hashing.",
    ),
    Setting("CROWDGATE_CLOCK", None, str, "Callable giving the current time (tests only)."),
)

PREFIX = "CROWDGATE_"


class InvalidSetting(RuntimeError):
    """A CROWDGATE_* environment variable whose value cannot be used."""


def apply_defaults(config: MutableMapping[str, Any]) -> None:
    """Fill in every setting the host application has not set itself."""
    for setting in SETTINGS:
        config.setdefault(setting.key, setting.default)


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the settings given as environment variables, parsed to their types."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.key in environ and setting.key != "CROWDGATE_CLOCK":
            raw = environ[setting.key]
            try:
                values[setting.key] = setting.parse(raw)
            except ValueError as exc:
                if setting.secret:
                    # The parser's words only when they cannot be quoting the value.
                    said = f": {exc}" if raw and raw not in str(exc) else ""
                    raise InvalidSetting(f"{setting.key} is not valid{said}.") from None
                raise InvalidSetting(f"{setting.key}={raw!r} is not valid: {exc}") from exc
    return values
