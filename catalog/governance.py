"""Governance use cases of the catalog: tokens, grants and the audit log."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from catalog.errors import Forbidden, NotFound, Unauthenticated
from catalog.model import (
    AuditEntry,
    Grant,
    Principal,
    PrincipalKind,
    TokenInfo,
    as_utc,
)
from catalog.store import repository
from catalog.store.tables import (
    AuditRow,
    GrantRow,
    TokenRow,
)
from catalog.uow import TOKEN_PREFIX, UnitOfWork, check_ident, hash_token


class Governance(UnitOfWork):
    """Who may call the catalog, who may read which product, and what was written."""

    def create_token(self, principal: str, kind: PrincipalKind | str, actor: str = "cli") -> str:
        """Create a bearer token for `principal`; the secret is returned once and stored hashed."""
        kind = PrincipalKind(kind)
        check_ident(principal, "principal")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._uow(write=True) as s:
            s.add(
                TokenRow(
                    token_hash=hash_token(token),
                    principal=principal,
                    kind=kind.value,
                    created_at=self._clock(),
                )
            )
            self._audit(s, actor, "token.create", f"principal:{principal}", kind=kind.value)
        return token

    def list_tokens(self) -> list[TokenInfo]:
        """Every token (id, principal, kind, state), never the secret."""
        with self._uow() as s:
            rows = s.scalars(select(TokenRow).order_by(TokenRow.id))
            return [
                TokenInfo(
                    id=r.id,
                    principal=r.principal,
                    kind=PrincipalKind(r.kind),
                    created_at=as_utc(r.created_at),
                    revoked=r.revoked_at is not None,
                )
                for r in rows
            ]

    def revoke_token(self, token_id: int, actor: str = "cli") -> None:
        """Revoke a token by id; it stops working at once."""
        with self._uow(write=True) as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"token {token_id} does not exist")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
                self._audit(s, actor, "token.revoke", f"principal:{row.principal}", token_id=token_id)

    def revoke_secret(self, token: str, actor: str = "cli") -> None:
        """Revoke the token whose secret is `token` (its holder ending a session it minted it for)."""
        with self._uow() as s:
            token_id = s.scalars(select(TokenRow.id).where(TokenRow.token_hash == hash_token(token))).one_or_none()
        if token_id is None:
            raise NotFound("no such token")
        self.revoke_token(token_id, actor)

    def authenticate(self, token: str | None) -> Principal:
        """The principal a bearer token belongs to.

        Raises:
            Unauthenticated: no token, or an unknown or revoked one.
        """
        if not token:
            raise Unauthenticated("a bearer token is required (create one with `meshlake catalog token create`)")
        rows = self._reads.rows(repository.LIVE_TOKEN, token_hash=hash_token(token))
        if not rows:
            raise Unauthenticated("unknown or revoked token")
        principal, kind = rows[0]
        return Principal(name=principal, kind=PrincipalKind(kind))

    def client_credentials(self, client_id: str, client_secret: str) -> Principal:
        """The principal of an OAuth2 client-credentials pair: `client_secret` is one of `client_id`'s tokens.

        Raises:
            Unauthenticated: the secret is not a live token, or it belongs to another principal.
        """
        principal = self.authenticate(client_secret)
        if principal.name != client_id:
            raise Unauthenticated(f"the client secret is not a token of principal {client_id!r}")
        return principal

    def record(self, who: Principal | str, action: str, subject: str, **detail: Any) -> None:
        """Write one audit entry on its own (for writes and refusals other components carry out)."""
        with self._uow(write=True) as s:
            self._audit(s, who, action, subject, **detail)

    def grant(self, who: Principal, name: str, consumer: str) -> tuple[Grant, bool]:
        """Let `consumer` read the product; returns the grant and whether it is new."""
        check_ident(consumer, "consumer")
        with self._uow(write=True) as s:
            row = self._product(s, who, name)
            self._require_owner(who, row.domain.name, f"grant access to {name!r}")
            query = select(GrantRow).where(GrantRow.product_id == row.id, GrantRow.consumer == consumer)
            existing = s.scalars(query).one_or_none()
            if existing is not None:
                return _grant(name, existing), False
            grant = GrantRow(product_id=row.id, consumer=consumer, granted_by=who.name, granted_at=self._clock())
            s.add(grant)
            self._audit(s, who, "grant.create", name, consumer=consumer)
            return _grant(name, grant), True

    def revoke(self, who: Principal, name: str, consumer: str) -> None:
        """Withdraw `consumer`'s grant on the product.

        Raises:
            NotFound: there is no such grant.
        """
        with self._uow(write=True) as s:
            row = self._product(s, who, name)
            self._require_owner(who, row.domain.name, f"revoke access to {name!r}")
            query = select(GrantRow).where(GrantRow.product_id == row.id, GrantRow.consumer == consumer)
            existing = s.scalars(query).one_or_none()
            if existing is None:
                raise NotFound(f"{consumer!r} has no grant on {name!r}")
            s.delete(existing)
            self._audit(s, who, "grant.revoke", name, consumer=consumer)

    def list_grants(self, who: Principal, name: str) -> list[Grant]:
        """Grants on a product (visible to its owning domain and admins)."""
        with self._uow() as s:
            row = self._product(s, who, name)
            self._require_owner(who, row.domain.name, f"list grants of {name!r}")
            rows = s.scalars(select(GrantRow).where(GrantRow.product_id == row.id).order_by(GrantRow.consumer))
            return [_grant(name, g) for g in rows]

    def audit(self, who: Principal, limit: int = 100, subject: str | None = None) -> list[AuditEntry]:
        """Latest writes, newest first: all of them for admins, a domain's own for a domain team."""
        if who.kind == PrincipalKind.READER:
            raise Forbidden(f"principal {who.name!r} may not read the audit log")
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if who.kind == PrincipalKind.DOMAIN:
            query = query.where((AuditRow.subject == who.name) | AuditRow.subject.startswith(f"{who.name}."))
        if subject:
            query = query.where(AuditRow.subject == subject)
        with self._uow() as s:
            return [
                AuditEntry(
                    at=as_utc(r.at),
                    principal=r.principal,
                    action=r.action,
                    subject=r.subject,
                    detail=r.detail,
                )
                for r in s.scalars(query)
            ]


def _grant(product: str, row: GrantRow) -> Grant:
    return Grant(product=product, consumer=row.consumer, granted_by=row.granted_by, granted_at=as_utc(row.granted_at))
