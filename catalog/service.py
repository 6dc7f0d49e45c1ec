"""The catalog's service layer: every use case runs in one unit of work and enforces who may do what."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from catalog import contract
from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.governance import Governance
from catalog.model import (
    Candidate,
    CheckResult,
    ChecksIn,
    Domain,
    DomainIn,
    Principal,
    Product,
    ProductIn,
    ProductSummary,
    Version,
    VersionIn,
    schema_hash,
)
from catalog.store import repository
from catalog.store.tables import (
    CheckResultRow,
    ColumnRow,
    DomainRow,
    LineageRow,
    ProductRow,
    TagRow,
    VersionRow,
)
from catalog.uow import check_ident


class CatalogService(Governance):
    """Use cases of the catalog: domains, products, versions and checks, plus governance."""

    def put_domain(self, who: Principal, name: str, spec: DomainIn) -> tuple[Domain, bool]:
        """Register or update a domain; returns it and whether it was created."""
        check_ident(name, "domain")
        self._require_owner(who, name, f"register domain {name!r}")
        with self._uow(write=True) as s:
            row = repository.domain(s, name)
            now = self._clock()
            if row is None:
                row = DomainRow(name=name, owner=spec.owner, contact=spec.contact, created_at=now, updated_at=now)
                s.add(row)
                self._audit(s, who, "domain.create", name, **spec.model_dump())
                return repository.domain_model(row), True
            if (row.owner, row.contact) != (spec.owner, spec.contact):
                row.owner, row.contact, row.updated_at = spec.owner, spec.contact, now
                self._audit(s, who, "domain.update", name, **spec.model_dump())
            return repository.domain_model(row), False

    def list_domains(self, who: Principal) -> list[Domain]:
        """Every registered domain (domain names and owners are not secret)."""
        with self._uow() as s:
            return [repository.domain_model(r) for r in s.scalars(select(DomainRow).order_by(DomainRow.name))]

    def put_product(self, who: Principal, name: str, spec: ProductIn) -> tuple[Product, bool]:
        """Create or update a product's description; returns it and whether it was created."""
        domain_name, _ = self._parse(name)
        self._require_owner(who, domain_name, f"register product {name!r}")
        if name in spec.upstream:
            raise InvalidInput(f"upstream: product {name!r} cannot be its own upstream")
        with self._uow(write=True) as s:
            domain = repository.domain(s, domain_name)
            if domain is None:
                raise NotFound(f"domain {domain_name!r} is not registered (PUT /api/domains/{domain_name} first)")
            now = self._clock()
            fields = {
                "description": spec.description,
                "owner": spec.owner or domain.owner,
                "table_format": spec.table_format,
                "location": spec.location,
                "schema_hash": schema_hash(spec.columns),
                "contract_version": spec.contract_version,
                "freshness_sla_minutes": spec.freshness_sla_minutes,
                "status": spec.status.value,
                "public": spec.public,
            }
            row = repository.product(s, name, lock=True)
            created = row is None
            if row is None:
                row = ProductRow(domain_id=domain.id, name=name, version_count=0, created_at=now, **fields)
                s.add(row)
                changed = ["created"]
            else:
                changed = [k for k, v in fields.items() if getattr(row, k) != v]
                changed += self._changed_children(row, spec)
                if not changed:
                    return repository.detail(s, row, now, who), False
                for key, value in fields.items():
                    setattr(row, key, value)
                row.columns.clear()
                row.tags.clear()
                row.upstream.clear()
                s.flush()
            row.updated_at = now
            row.columns.extend(ColumnRow(position=i, **c.model_dump()) for i, c in enumerate(spec.columns))
            row.tags.extend(TagRow(tag=t) for t in spec.tags)
            row.upstream.extend(LineageRow(upstream=u) for u in sorted(set(spec.upstream)))
            s.flush()
            self._audit(s, who, "product.create" if created else "product.update", name, changed=changed)
            return repository.detail(s, row, now, who), created

    @staticmethod
    def _changed_children(row: ProductRow, spec: ProductIn) -> list[str]:
        changed = []
        old_columns = [(c.name, c.type, c.doc, c.pii, c.nullable) for c in row.columns]
        if old_columns != [(c.name, c.type, c.doc, c.pii, c.nullable) for c in spec.columns]:
            changed.append("columns")
        if sorted(t.tag for t in row.tags) != spec.tags:
            changed.append("tags")
        if sorted(u.upstream for u in row.upstream) != sorted(set(spec.upstream)):
            changed.append("upstream")
        return changed

    def list_products(self, who: Principal, **filters: Any) -> list[ProductSummary]:
        """Products the principal may read matching `filters` (see `repository.search`)."""
        with self._uow() as s:
            return repository.summaries(s, repository.search(s, who, **filters), self._clock())

    def get_product(self, who: Principal, name: str, versions: int = 20) -> Product:
        """One product with schema, lineage, latest versions, freshness and quality."""
        with self._uow() as s:
            return repository.detail(s, self._product(s, who, name), self._clock(), who, versions_limit=versions)

    def readable_products(self, who: Principal) -> list[str]:
        """Names of every product the principal may read (asked on every query: names only, one SELECT
        on a pooled connection, `CompiledReads`)."""
        return [name for (name,) in self._reads.rows(repository.READABLE_NAMES[who.kind], principal=who.name)]

    def contract(self, who: Principal, name: str) -> str:
        """The product's Open Data Contract Standard (v3) YAML."""
        with self._uow() as s:
            row = self._product(s, who, name)
            product = repository.detail(s, row, self._clock(), who, versions_limit=1)
            return contract.to_yaml(product, repository.domain_model(row.domain))

    def register_version(self, who: Principal, name: str, spec: VersionIn) -> tuple[Version, bool]:
        """Record one materialisation; the same version again changes nothing (returns created=False).

        Raises:
            Conflict: that version is recorded with a different row count or schema hash.
        """
        with self._uow(write=True) as s:
            row = self._product(s, who, name, lock=True)
            self._require_owner(who, row.domain.name, f"register versions of {name!r}")
            query = select(VersionRow).where(VersionRow.product_id == row.id, VersionRow.version == spec.version)
            existing = s.scalars(query).one_or_none()
            if existing is not None:
                differs = [f for f in ("row_count", "schema_hash") if getattr(existing, f) != getattr(spec, f)]
                if differs:
                    raise Conflict(
                        f"version {spec.version} of {name!r} is already registered with another {differs[0]}"
                    )
                return repository.version_model(existing), False
            now = self._clock()
            row.version_count += 1
            version = VersionRow(
                product_id=row.id,
                seq=row.version_count,
                version=spec.version,
                row_count=spec.row_count,
                schema_hash=spec.schema_hash,
                run_id=spec.run_id,
                materialized_at=spec.materialized_at or now,
                registered_at=now,
                registered_by=who.name,
                extra=spec.extra,
            )
            s.add(version)
            s.flush()
            self._audit(s, who, "version.register", name, version=spec.version, seq=version.seq, run_id=spec.run_id)
            return repository.version_model(version), True

    def list_versions(self, who: Principal, name: str, limit: int = 50, offset: int = 0) -> list[Version]:
        """A product's versions, newest first."""
        with self._uow() as s:
            return repository.versions(s, self._product(s, who, name).id, limit=limit, offset=offset)

    def record_checks(self, who: Principal, name: str, checks: ChecksIn) -> list[CheckResult]:
        """Store a run of asset-check results; returns the latest result of every check."""
        with self._uow(write=True) as s:
            row = self._product(s, who, name)
            self._require_owner(who, row.domain.name, f"record checks of {name!r}")
            now = self._clock()
            run = {"run_id": checks.run_id, "refused_version": checks.refused_version}
            for r in checks.results:
                s.add(CheckResultRow(product_id=row.id, checked_at=now, **run, **r.model_dump()))
            s.flush()
            failed = sorted(r.check for r in checks.results if not r.passed)
            self._audit(s, who, "checks.record", name, **run, failed=failed)
            return repository.latest_checks(s, [row.id]).get(row.id, [])

    def discard_candidate(self, who: Principal, name: str, version: int) -> None:
        """Record that maintenance discarded the refused candidate `version`: the catalog stops showing it.

        Marks the check runs that refused that version so far; a later run refusing a candidate of the
        same version (Delta: staged on the same log version) shows it again. Idempotent.

        Raises:
            Forbidden: `who` is neither the owning domain nor an admin.
        """
        with self._uow(write=True) as s:
            row = self._product(s, who, name)
            self._require_owner(who, row.domain.name, f"discard candidates of {name!r}")
            refusing = select(CheckResultRow).where(
                CheckResultRow.product_id == row.id,
                CheckResultRow.refused_version == version,
                CheckResultRow.discarded_at.is_(None),
            )
            marked = list(s.scalars(refusing))
            now = self._clock()
            for result in marked:
                result.discarded_at = now
            if marked:
                self._audit(s, who, "candidate.discard", name, version=version)

    def refused_candidate(self, who: Principal, name: str) -> Candidate | None:
        """The candidate the product's latest build was refused with (see `ChecksIn.refused_version`), or None.

        Raises:
            Forbidden: `who` is neither the owning domain nor an admin.
        """
        with self._uow() as s:
            row = self._product(s, who, name)
            self._require_owner(who, row.domain.name, f"see the refused candidate of {name!r}")
            return repository.refused_candidate(s, row)
