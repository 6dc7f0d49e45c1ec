"""`POST /v1/oauth/tokens`: OAuth2 client credentials, for engines that only speak OAuth to a REST catalog.

`client_id` is a principal's name and `client_secret` one of that principal's catalog tokens
(`meshlake catalog token create --principal <client_id>`), sent in the form or with HTTP Basic;
the access token issued is that same
token, so revoking it ends both. The body is form-encoded (RFC 6749); it is parsed here rather than
with FastAPI's `Form`, which would need python-multipart for two fields.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import Response

from catalog.errors import Unauthenticated
from catalog.iceberg.access import AUDIT_PREFIX
from catalog.iceberg.models import OAuthErrorResponse, TokenResponse
from catalog.service import CatalogService

__all__ = ["OPENAPI", "OAuthErrorResponse", "TokenResponse", "token_response"]

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "client_id", "client_secret"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string", "description": "The principal's name"},
                        "client_secret": {"type": "string", "description": "A catalog token of that principal"},
                    },
                }
            }
        },
    }
}


def _error(status: int, error: str, description: str) -> Response:
    body = OAuthErrorResponse.model_validate({"error": error, "error_description": description})
    return Response(body.model_dump_json(), status, media_type="application/json")


def _basic(authorization: str | None) -> tuple[str, str] | None:
    """Client id and secret from `Authorization: Basic` (RFC 6749 2.3.1: each form-encoded, then base64)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (unquote_plus(client_id), unquote_plus(secret)) if colon else None


def token_response(service: CatalogService, body: bytes, authorization: str | None = None) -> Response:
    """Answer a token request: 200 with the token, 400 for a malformed request, 401 for wrong credentials.

    The client authenticates in the body (`client_id`, `client_secret`) or with HTTP Basic
    (`authorization`), as DuckDB does.
    """
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        return _error(400, "invalid_request", f"the body must be form-encoded: {exc}")
    fields = {key: values[0] for key, values in form.items()}
    grant = fields.get("grant_type")
    if grant is None:
        return _error(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return _error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported (client_credentials is)")
    client_id, secret = _basic(authorization) or (fields.get("client_id"), fields.get("client_secret"))
    if not client_id or not secret:
        return _error(400, "invalid_request", "client_id and client_secret are required")
    try:
        service.client_credentials(client_id, secret)
    except Unauthenticated as exc:
        service.record("anonymous", f"{AUDIT_PREFIX}.refuse", "oauth", client_id=client_id[:200], reason=str(exc))
        return _error(401, "invalid_client", str(exc))
    token = TokenResponse(access_token=secret, token_type="bearer", issued_token_type=ACCESS_TOKEN_TYPE)
    return Response(token.model_dump_json(), media_type="application/json")
