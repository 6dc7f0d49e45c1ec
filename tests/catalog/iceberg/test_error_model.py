"""Every refusal under /iceberg, also for a path or method the API does not serve, is the spec's error model."""

from __future__ import annotations

import httpx
import pytest

from tests.catalog.iceberg.conftest import Lake

TABLE = "/v1/namespaces/orders/tables/daily_revenue"


def _call(lake: Lake, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {lake.tokens['orders']}", "Content-Type": "application/json"}
    return httpx.request(method, f"{lake.uri}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error: dict[str, object] = response.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["code"] == status
    return error


@pytest.mark.parametrize(
    "path", ["/", "/v1/nothing", "/v1/config/", f"{TABLE}/metrics", "/v1/namespaces/orders/tables/daily_revenue/x"]
)
def test_an_unknown_path_is_404(lake: Lake, path: str) -> None:
    error = _error(_call(lake, "GET", path), 404)
    assert error["type"] == "NotFoundException"
    assert f"GET /iceberg{path}: no such endpoint" == error["message"]
    head = _call(lake, "HEAD", path)
    assert (head.status_code, head.content) == (404, b"")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/config", "GET"),
        ("DELETE", "/v1/namespaces", "GET, POST"),
        ("PATCH", TABLE, "DELETE, GET, HEAD, POST"),
        ("GET", "/v1/transactions/commit", "POST"),
    ],
)
def test_a_method_a_path_does_not_take_is_405_with_allow(lake: Lake, method: str, path: str, allow: str) -> None:
    response = _call(lake, method, path)
    error = _error(response, 405)
    assert response.headers["allow"] == allow
    assert error["message"] == f"{method} /iceberg{path}: method not allowed (allowed: {allow})"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "where"),
    [
        ("POST", "/v1/namespaces", {"content": b"{not json"}, "JSON"),
        ("POST", "/v1/transactions/commit", {"content": b"\xff\xfe-"}, "parsing the body"),
        ("POST", "/v1/namespaces", {"json": {"properties": {}}}, "body.namespace"),
        ("POST", TABLE, {"json": {"requirements": "all", "updates": []}}, "body.requirements"),
        ("GET", "/v1/namespaces?pageSize=many", {}, "query.pageSize"),
    ],
)
def test_a_malformed_request_is_400(lake: Lake, method: str, path: str, kwargs: dict[str, object], where: str) -> None:
    error = _error(_call(lake, method, path, **kwargs), 400)
    assert error["type"] == "BadRequestException" and where in str(error["message"])
