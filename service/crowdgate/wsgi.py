"""gunicorn's entry point: ``gunicorn crowdgate.wsgi:app``."""

from __future__ import annotations

from crowdgate.app import create_app

app = create_app()
