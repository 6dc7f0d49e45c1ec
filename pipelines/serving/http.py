"""`POST /api/query`: read-only SQL over the caller's granted products, as a router for the catalog app.

The catalog package does not import `pipelines`; the service composition includes this router in the
catalog app (which keeps its `CatalogService` in `app.state.service` and maps `CatalogError`s, such as
a missing token, to HTTP statuses).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from catalog.service import CatalogService
from pipelines.ports.query_engine import (
    QueryError,
    QueryPermissionError,
    QueryRefusedError,
    QueryResult,
    QueryTimeoutError,
)
from pipelines.serving.products import Access
from pipelines.serving.scans import parse_as_of
from pipelines.serving.session import Serving
from pipelines.settings import Settings

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_ROWS = 100_000
MAX_TIMEOUT_S = 60.0
# Each query gets at most this much memory and never spills to disk: past it, DuckDB's out-of-memory error.
DUCKDB_LIMITS: dict[str, str | bool | int] = {"memory_limit": "1GB", "temp_directory": ""}

_bearer = HTTPBearer(auto_error=False, description="A token from `meshlake catalog token create`")


class QueryIn(BaseModel):
    """A query: one read-only SELECT over `<domain>.<product>` views."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=100_000, examples=["SELECT * FROM orders.daily_revenue LIMIT 10"])
    max_rows: int = Field(default=1000, ge=1, le=MAX_ROWS, description="Rows returned at most; more sets `truncated`.")
    timeout_s: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_S, description="Seconds before the query is stopped.")
    as_of: str | None = Field(default=None, description="A version or an ISO-8601 time for every product read.")


class ColumnOut(BaseModel):
    name: str
    type: str


class QueryOut(BaseModel):
    """The answer as JSON: decimals are strings (exact), times ISO-8601, bytes base64."""

    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    row_count: int
    truncated: bool


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _arrow_stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _answer(result: QueryResult, accept: str) -> Response:
    headers = {
        "X-Meshlake-Truncated": str(result.truncated).lower(),
        "X-Meshlake-Rows": str(result.table.num_rows),
        "X-Meshlake-Cache": "hit" if result.cached else "miss",
    }
    if ARROW_STREAM in accept:
        return Response(_arrow_stream(result.table), media_type=ARROW_STREAM, headers=headers)
    body = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in result.table.schema],
        "rows": result.table.to_pylist(),
        "row_count": result.table.num_rows,
        "truncated": result.truncated,
    }
    return Response(json.dumps(body, default=_json_value), media_type="application/json", headers=headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def query_router(
    serving: Serving | Callable[[], Serving], *, duckdb_config: Mapping[str, str | bool | int] = DUCKDB_LIMITS
) -> APIRouter:
    """The router with `POST /api/query`, serving the products of `serving`'s domains.

    Args:
        serving: the serving (or a function building it on first use, e.g. `Serving.load`).
        duckdb_config: DuckDB settings of every query's connection (memory limit, no spilling).
    """
    router = APIRouter(tags=["query"])
    resolved: list[Serving] = [serving] if isinstance(serving, Serving) else []

    def _serving() -> Serving:
        if not resolved:
            assert callable(serving)
            resolved.append(serving())
        return resolved[0]

    @router.post(
        "/api/query",
        response_model=QueryOut,
        responses={
            200: {
                "content": {ARROW_STREAM: {}},
                "description": f"JSON, or an Arrow IPC stream with Accept: {ARROW_STREAM}; header X-Meshlake-Cache"
                " is `hit` when the same query on the same table versions was answered before",
            },
            400: {"description": "Not a single read-only SELECT, or DuckDB's error text"},
            401: {"description": "Missing, unknown or revoked token"},
            403: {"description": "The query names a product the caller may not read"},
            408: {"description": "The query ran longer than its timeout and was stopped"},
        },
    )
    def run_query(
        body: QueryIn,
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Response:
        """Run one read-only SELECT (or WITH ... SELECT) over the products the caller may read.

        Each `<domain>.<product>` the caller may read (public, its own domain's, granted) is a view.
        Statements other than a single SELECT, file-reading table functions and other databases are refused.
        """
        service: CatalogService = request.app.state.service
        who = service.authenticate(creds.credentials if creds else None)
        access = Access(who.name, frozenset(service.readable_products(who)), str(who.kind))
        try:
            as_of = parse_as_of(body.as_of) if body.as_of else None
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            result = _serving().query(
                body.sql,
                access=access,
                as_of=as_of,
                max_rows=body.max_rows,
                timeout_s=body.timeout_s,
                config=duckdb_config,
            )
        except QueryPermissionError as exc:
            return _error(403, str(exc))
        except QueryTimeoutError as exc:
            return _error(408, str(exc))
        except (QueryRefusedError, QueryError) as exc:
            return _error(400, str(exc))
        return _answer(result, request.headers.get("accept", ""))

    return router


def router_from_env() -> APIRouter:
    """The query router on `Serving.load()` (built at the first query): the catalog service's hook."""
    return query_router(Serving.load)


def catalog_app(service: CatalogService | None = None) -> FastAPI:
    """The catalog app with `POST /api/query` and the product pages' history, on `service` (default: the catalog
    of `Settings.load()`).

    `meshlake catalog serve` includes both through their entry points; this factory serves the same
    app from uvicorn directly: `uvicorn --factory pipelines.serving.http:catalog_app`.
    """
    from catalog.api import create_app
    from pipelines.serving.history_panel import panel_from_env

    app = create_app(service or CatalogService.open(Settings.load().catalog_db_url), panels=[panel_from_env()])
    app.include_router(router_from_env())
    return app
