"""gunicorn settings for crowdgate: `gunicorn -c deploy/gunicorn.conf.py crowdgate.wsgi:app`.

Every value can be changed through the environment, so the same file serves the
Docker image, the compose file and the systemd unit. crowdgate's own settings
(CROWDGATE_DATABASE_URL and the rest) are read by the app, not here.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number") from None


# Where to listen: host:port, or unix:/path/to/socket.
bind = [os.environ.get("CROWDGATE_BIND", "").strip() or "0.0.0.0:8000"]

# Threaded workers: survey calls spend their time waiting on the database.
worker_class = "gthread"
workers = _int("CROWDGATE_WORKERS", 2)
threads = _int("CROWDGATE_THREADS", 8)

# A request that takes longer than this is stuck; its worker is restarted.
timeout = _int("CROWDGATE_TIMEOUT", 30)
graceful_timeout = _int("CROWDGATE_GRACEFUL_TIMEOUT", 30)
keepalive = _int("CROWDGATE_KEEPALIVE", 5)

# Logs go to stdout/stderr, for docker logs and journald.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("CROWDGATE_LOG_LEVEL", "info")

# Each worker builds the app itself: no database connection may cross the fork.
preload_app = False

# gunicorn >= 25.1 opens a control socket in $HOME by default; two instances under one
# user would share it, and a service user's home may be read-only. (Older gunicorn
# ignores this setting.)
control_socket_disable = True
