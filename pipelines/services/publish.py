"""Publishing a gold product: describe it in the catalog and record the version just published."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pipelines.core.domain import Domain
from pipelines.core.expectations import Outcome
from pipelines.ports.registry import (
    CheckResult,
    ProductColumn,
    ProductDescription,
    ProductRegistry,
    ProductVersion,
)
from pipelines.services.build import BuildResult
from pipelines.services.wap import Publication


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def publish_product(
    domain: Domain,
    product: str,
    result: BuildResult,
    registry: ProductRegistry,
    run_id: str,
    table_format: str,
    clock_ms: Callable[[], int] = _now_ms,
) -> bool:
    """Register the domain, the product's description, its grants and the version `result` committed.

    Idempotent: re-publishing the same version changes nothing and returns False.
    """
    spec = domain.spec
    pspec = spec.products[product]
    name = f"{domain.name}.{product}"
    columns = [
        ProductColumn(
            name=field.name,
            type=str(field.type),
            doc=(field.metadata or {}).get(b"doc", b"").decode(),
            pii=b"pii" in (field.metadata or {}),
            nullable=field.nullable,
        )
        for field in result.schema
    ]
    registry.register_domain(spec.name, spec.owner, spec.contact)
    registry.register_product(
        ProductDescription(
            product=name,
            description=pspec.description,
            columns=columns,
            table_format=table_format,
            location=result.location,
            owner=spec.owner,
            tags=list(pspec.tags),
            upstream=[ref for ref in pspec.inputs if not ref.startswith("silver.")],
            freshness_sla_minutes=round(pspec.freshness_hours * 60),
            public=pspec.public,
        )
    )
    for consumer in pspec.grants:
        registry.grant(name, consumer)
    schema_hash = hashlib.sha256(str(result.schema.remove_metadata()).encode()).hexdigest()
    return registry.register_version(
        ProductVersion(
            product=name,
            version=result.version,
            row_count=result.rows,
            schema_hash=schema_hash,
            run_id=run_id,
            created_at_ms=clock_ms(),
            extra={"upstream": ",".join(f"{k}@{v}" for k, v in sorted(result.upstream.items()))},
        )
    )


def record_quality(
    registry: ProductRegistry, product: str, run_id: str, outcomes: Iterable[Outcome], publication: Publication
) -> None:
    """Record a run's check results so the catalog's quality status follows them.

    Blocking checks count as errors; those that refused a candidate say which version they kept
    from readers, and the catalog shows the refused candidate to the owning domain. A product
    without expectations records nothing (the catalog takes no empty run).
    """
    refused = "" if publication.published else f" (refused version {publication.candidate}: not published)"
    results = [
        CheckResult(
            check=o.name,
            passed=o.passed,
            severity="error" if o.blocking else "warn",
            message=o.description + (refused if o.blocking and not o.passed else ""),
        )
        for o in outcomes
    ]
    if results:
        registry.record_checks(product, run_id, results, None if publication.published else publication.candidate)
