"""Asset checks generated from each product's contract (expectations, blocking or not) and its freshness SLA."""

# No `from __future__ import annotations`: Dagster reads annotations at definition time.

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import dagster as dg

from pipelines.core.domain import Domain
from pipelines.core.expectations import Outcome
from pipelines.services.contracts import product_expectations


def gold_key(domain: Domain, product: str) -> dg.AssetKey:
    return dg.AssetKey([domain.name, "gold", product])


def product_check_specs(domain: Domain, product: str) -> list[dg.AssetCheckSpec]:
    """One check per expectation of the product's contract; `error` severity blocks downstream assets."""
    return [
        dg.AssetCheckSpec(
            e.check_name(),
            asset=gold_key(domain, product),
            description=e.description or f"{e.type} ({e.severity})",
            blocking=e.severity == "error",
        )
        for e in product_expectations(domain.spec.products[product])
    ]


def _metadata(outcome: Outcome) -> dict[str, Any]:
    meta: dict[str, Any] = {"failing_rows": outcome.failing_rows, "expectation": outcome.description}
    if outcome.examples:
        meta["examples"] = dg.MetadataValue.json([{k: str(v) for k, v in row.items()} for row in outcome.examples])
    return meta


def product_check_results(
    domain: Domain, product: str, outcomes: Iterable[Outcome], refused: int | None = None
) -> list[dg.AssetCheckResult]:
    """The outcomes as Dagster's check results; those of a refused build name the candidate they kept from
    readers (`refused_candidate`), since Dagster shows them beside the last materialisation, the published one."""
    extra = {} if refused is None else {"refused_candidate": dg.MetadataValue.int(refused)}
    return [
        dg.AssetCheckResult(
            check_name=o.name,
            asset_key=gold_key(domain, product),
            passed=o.passed,
            severity=dg.AssetCheckSeverity.ERROR if o.blocking else dg.AssetCheckSeverity.WARN,
            metadata={**_metadata(o), **extra},
        )
        for o in outcomes
    ]


def product_freshness(domain: Domain, product: str) -> dg.FreshnessPolicy:
    """The product's SLA as a Dagster freshness policy: failing beyond `freshness_hours`, warning at half."""
    hours = domain.spec.products[product].freshness_hours
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours / 2))
