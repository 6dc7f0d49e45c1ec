"""Errors of the Iceberg REST API: every failure answers with the spec's `IcebergErrorResponse` model.

The catalog app maps its own errors to `{"detail": …}`; the Iceberg routes use their own route class,
which turns validation errors, catalog errors and pyiceberg's exceptions into
`{"error": {"message", "type", "code"}}` with the status the spec gives (400/401/403/404/406/409),
and a last route answers paths and methods the API does not serve (404, 405) the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NamespaceNotEmptyError,
    NoSuchNamespaceError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from catalog.errors import CatalogError
from catalog.iceberg.access import AUDIT_PREFIX, Access
from catalog.iceberg.models import ErrorResponse, ErrorResponseMessage

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request"},
    401: {"model": ErrorResponse, "description": "Missing, unknown or revoked token"},
    403: {"model": ErrorResponse, "description": "The principal may not read or write this"},
    404: {"model": ErrorResponse, "description": "No such namespace or table"},
    406: {"model": ErrorResponse, "description": "Not supported by this server"},
    409: {"model": ErrorResponse, "description": "A requirement does not hold, or it already exists"},
}
_CATALOG_TYPES = {
    400: "BadRequestException",
    401: "NotAuthorizedException",
    403: "ForbiddenException",
    404: "NotFoundException",
    409: "AlreadyExistsException",
    422: "BadRequestException",
}
_ICEBERG: list[tuple[type[Exception], int, str]] = [
    (NoSuchTableError, 404, "NoSuchTableException"),
    (NoSuchNamespaceError, 404, "NoSuchNamespaceException"),
    (TableAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceAlreadyExistsError, 409, "AlreadyExistsException"),
    (NamespaceNotEmptyError, 409, "NamespaceNotEmptyException"),
    (CommitFailedException, 409, "CommitFailedException"),
    (NotImplementedError, 406, "UnsupportedOperationException"),
    (IcebergValidationError, 400, "ValidationException"),
    (ValidationError, 400, "BadRequestException"),
    # update_table_metadata refuses updates that do not fit the table (an unknown schema id, a snapshot
    # that is already there) with ValueError: the request is at fault.
    (ValueError, 400, "BadRequestException"),
    # pyiceberg's model validators raise TypeError for a value of the wrong type (e.g. a bound or default value
    # that does not fit its column's type), which pydantic passes through instead of making it a ValidationError.
    (TypeError, 400, "BadRequestException"),
]


def error_response(
    status: int, kind: str, message: str, *, head: bool = False, headers: Mapping[str, str] | None = None
) -> Response:
    """The spec's error body (none for HEAD), with `WWW-Authenticate` on 401 and any other `headers`."""
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    if head:
        return Response(status_code=status, headers=headers)
    body = ErrorResponse(error=ErrorResponseMessage(message=message, type=kind, code=status))
    return Response(body.model_dump_json(), status, headers=headers, media_type="application/json")


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


def as_error_response(exc: Exception, head: bool) -> Response | None:
    """The Iceberg error answer to `exc`, or None for an exception no request should cause (a bug: 500)."""
    if isinstance(exc, RequestValidationError):
        return error_response(400, "BadRequestException", _validation_message(exc), head=head)
    if isinstance(exc, HTTPException):  # FastAPI's own refusals, e.g. of a body that is not JSON at all
        name = _CATALOG_TYPES.get(exc.status_code, "BadRequestException")
        return error_response(exc.status_code, name, str(exc.detail), head=head, headers=exc.headers)
    if isinstance(exc, CatalogError):
        status = 400 if exc.status_code == 422 else exc.status_code
        return error_response(status, _CATALOG_TYPES.get(exc.status_code, "BadRequestException"), str(exc), head=head)
    for kind, status, name in _ICEBERG:
        if isinstance(exc, kind):
            return error_response(status, name, str(exc) or name, head=head)
    return None


class IcebergRoute(APIRoute):
    """A route answering every expected failure with the Iceberg error model instead of FastAPI's `detail`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                response = as_error_response(exc, head=request.method == "HEAD")
                if response is None:
                    raise
                return response

        return handle


UNMATCHED_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def answer_unmatched(router: APIRouter) -> None:
    """Add the last route of `router`: any other path under its prefix gets 404, any method a path does not
    take 405 with `Allow`, both in the Iceberg error model (Starlette's own answers are `{"detail": …}`)."""
    served = [route for route in router.routes if isinstance(route, APIRoute)]

    def unmatched(request: Request, path: str) -> Response:
        allowed = {m for r in served if r.matches(request.scope)[0] != Match.NONE for m in r.methods or ()}
        head = request.method == "HEAD"
        where = f"{request.method} {request.url.path}"
        if not allowed:
            return error_response(404, "NotFoundException", f"{where}: no such endpoint", head=head)
        allow = ", ".join(sorted(allowed))
        message = f"{where}: method not allowed (allowed: {allow})"
        return error_response(405, "MethodNotAllowedException", message, head=head, headers={"Allow": allow})

    router.add_api_route("/{path:path}", unmatched, methods=UNMATCHED_METHODS, include_in_schema=False)


@contextmanager
def conflicts_audited(access: Access, subjects: Sequence[str]) -> Iterator[None]:
    """Audit a commit refused because a requirement no longer holds (or another commit won), then re-raise."""
    try:
        yield
    except CommitFailedException as exc:
        for subject in subjects:
            access.service.record(access.who, f"{AUDIT_PREFIX}.conflict", subject, reason=str(exc))
        raise
