"""The baseline for benchmarks/survey_hot_path.py: a bare Flask app with one small JSON route.

gunicorn serves it with the same settings as crowdgate, so the ratio of the two
throughputs says what crowdgate's own work costs on top of Flask, gunicorn and the
load generator. Run by itself: ``gunicorn --pythonpath benchmarks bare_app:app``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

app = Flask("bare")


@app.get("/ping")
def ping() -> dict[str, Any]:
    return {"ok": True, "worker_id": request.args.get("worker_id")}
