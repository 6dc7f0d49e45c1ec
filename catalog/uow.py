"""The catalog's unit of work and access rules shared by every use case."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from catalog.errors import Forbidden, InvalidInput, NotFound
from catalog.model import (
    IDENT_PATTERN,
    Principal,
    PrincipalKind,
    parse_product,
    utcnow,
)
from catalog.store import make_engine, repository, upgrade
from catalog.store.reads import CompiledReads
from catalog.store.tables import (
    AuditRow,
    ProductRow,
)

TOKEN_PREFIX = "mlk_"


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 (tokens are 256-bit random, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class UnitOfWork:
    """Runs each use case in one transaction on the store: it all happens or nothing does."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._writer = engine.execution_options(catalog_write=True)
        self._reads = CompiledReads(engine)
        self._clock = clock

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Self:
        """Open the catalog at `url` (the settings' `catalog_db_url`), upgrading its schema first."""
        engine = make_engine(url)
        if migrate:
            upgrade(engine)
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    @contextmanager
    def _uow(self, write: bool = False) -> Iterator[Session]:
        with (
            Session(self._writer if write else self._engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def _audit(self, session: Session, who: Principal | str, action: str, subject: str, **detail: Any) -> None:
        name = who if isinstance(who, str) else who.name
        session.add(AuditRow(at=self._clock(), principal=name, action=action, subject=subject, detail=detail))

    @staticmethod
    def _require_owner(who: Principal, domain: str, what: str) -> None:
        if who.kind == PrincipalKind.ADMIN or (who.kind == PrincipalKind.DOMAIN and who.name == domain):
            return
        raise Forbidden(f"principal {who.name!r} may not {what}: only domain {domain!r} (or an admin) may")

    @staticmethod
    def _may_read(s: Session, who: Principal, row: ProductRow) -> bool:
        if who.kind == PrincipalKind.ADMIN or row.public:
            return True
        if who.kind == PrincipalKind.DOMAIN and who.name == row.domain.name:
            return True
        return repository.is_granted(s, row.id, who.name)

    def _product(self, s: Session, who: Principal, name: str, lock: bool = False) -> ProductRow:
        try:
            parse_product(name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        row = repository.product(s, name, lock=lock)
        if row is None:
            raise NotFound(f"product {name!r} is not registered")
        if not self._may_read(s, who, row):
            raise Forbidden(f"principal {who.name!r} has no grant to read product {name!r}")
        return row

    @staticmethod
    def _parse(name: str) -> tuple[str, str]:
        try:
            return parse_product(name)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc


def check_ident(value: str, what: str) -> None:
    """Raise `InvalidInput` naming `what` unless `value` is a lower-case identifier."""
    if not re.fullmatch(IDENT_PATTERN, value) or len(value) > 63:
        raise InvalidInput(f"{what}: {value!r} must be a lower-case identifier ([a-z][a-z0-9_]*, at most 63)")
