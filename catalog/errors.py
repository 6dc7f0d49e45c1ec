"""Errors of the catalog service; the HTTP API maps each to one status code."""

from __future__ import annotations


class CatalogError(Exception):
    """Base of every error the catalog reports to a caller."""

    status_code = 400


class InvalidInput(CatalogError, ValueError):
    """The request is well-formed but its content is not acceptable (the message names the field)."""

    status_code = 422


class Unauthenticated(CatalogError):
    """No token, or an unknown or revoked one."""

    status_code = 401


class Forbidden(CatalogError, PermissionError):
    """The principal may not do this."""

    status_code = 403


class NotFound(CatalogError, LookupError):
    """The domain, product or grant does not exist."""

    status_code = 404


class Conflict(CatalogError):
    """The request contradicts what is already recorded (e.g. a version re-registered with other data)."""

    status_code = 409
