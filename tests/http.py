"""A thin requests wrapper for tests: base URL, keys, and the API path."""

from __future__ import annotations

from typing import Any

import requests


class ApiClient:
    def __init__(
        self, base_url: str, *, admin_key: str | None = None, survey_key: str | None = None
    ) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if admin_key:
            self.session.headers["Authorization"] = f"Bearer {admin_key}"
        if survey_key:
            self.session.headers["X-Survey-Key"] = survey_key
        self.survey_key = survey_key

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url(path), **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("OPTIONS", path, **kwargs)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_error(
    response: requests.Response, status: int, error: str, field: str | None = None
) -> dict[str, Any]:
    """The one error shape, with the expected status, code and (optionally) field."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["error"] == error, body
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    if field is not None:
        assert field in body["fields"], body
    return body  # type: ignore[no-any-return]
