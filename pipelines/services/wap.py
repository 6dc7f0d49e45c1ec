"""Write-audit-publish for gold: build a candidate version, check its contract, publish it only if it holds.

Readers (every engine on the table, the catalog, downstream products) see the product's published
version only. A build commits a candidate (`build_product(staged=True)`); the product's
expectations run on the candidate's rows; when no error-severity one fails, the candidate becomes
the current version in one atomic step (warn-severity failures are published and reported). When
one fails, the candidate is kept for the owning domain to inspect (`CandidateTables.keep`) and the
published version stays as it was. A process killed between the audit and the publish leaves an
unpublished candidate that nothing reads; the next run builds and publishes its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import polars as pl

from pipelines.core.domain import Domain
from pipelines.core.expectations import Outcome
from pipelines.core.names import Layer
from pipelines.logs import AssetRun, table_event
from pipelines.ports.candidates import Candidate
from pipelines.ports.commit_check import ConcurrentCommitError
from pipelines.ports.engine import ComputeEngine
from pipelines.services.build import MAX_REPLANS, BuildResult, PartitionWindow, build_product
from pipelines.services.contracts import evaluate_product
from pipelines.services.incremental import IncrementalRuntime

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Publication:
    """What write-audit-publish did with a build's candidate: published it, or refused it and kept it.

    The hook for logs and event records: `message` is one line saying which.
    """

    product: str
    candidate: int
    published: bool
    failing: tuple[str, ...] = ()
    """Error-severity checks that failed (the candidate was refused)."""
    warnings: tuple[str, ...] = ()
    """Warn-severity checks that failed (recorded; they do not hold the candidate back)."""

    @property
    def message(self) -> str:
        if not self.published:
            return f"{self.product}: refused version {self.candidate}: failing checks {', '.join(self.failing)}"
        warned = f" with warnings {', '.join(self.warnings)}" if self.warnings else ""
        return f"{self.product}: published version {self.candidate}{warned}"


@dataclass(frozen=True)
class Audited:
    """A gold build through write-audit-publish: the build (its version published or kept), the check outcomes."""

    build: BuildResult
    outcomes: list[Outcome]
    publication: Publication


def write_audit_publish(
    domain: Domain,
    product: str,
    tables: IncrementalRuntime,
    run_id: str,
    published: frozenset[str] = frozenset(),
    window: PartitionWindow | None = None,
    full: bool = False,
    engine: ComputeEngine | None = None,
) -> Audited:
    """Build the product as a candidate, audit it against its expectations, publish it if none that blocks fails.

    Args: as `build_product`.

    Returns:
        The build (`location` is the table's after the publish), every expectation's outcome, and
        whether the candidate was published.

    Raises:
        InputNotAllowedError, ReferenceNotAllowedError, ValueError: as `build_product` and
            `evaluate_product`.
        ConcurrentCommitError: other runs kept publishing first, `MAX_REPLANS` times.
    """
    store = tables.store_for(domain.name, Layer.GOLD, product)
    target = domain.product_table(product)
    name = f"{domain.name}.{product}"
    where = AssetRun(domain.name, f"{domain.name}/{Layer.GOLD}/{product}", run_id)
    candidates = tables.candidates(store)
    for attempt in range(1, MAX_REPLANS + 1):
        build = build_product(domain, product, tables, run_id, published, window, full, staged=True, engine=engine)
        rows = pl.from_arrow(candidates.read_candidate(target, build.version))
        assert isinstance(rows, pl.DataFrame)
        outcomes = evaluate_product(domain, product, tables, published, rows)
        failing, warnings = _failed(outcomes, blocking=True), _failed(outcomes, blocking=False)
        if failing:
            candidates.keep(target, build.version, failing)
            table_event(_log, "refusal", where, target, build.version, logging.WARNING, failing=failing)
            return Audited(build, outcomes, Publication(name, build.version, False, failing, warnings))
        try:
            commit = candidates.publish(target, build.version)
        except ConcurrentCommitError as exc:  # another run published since this one planned: plan again
            table_event(_log, "conflict", where, target, exc.version, logging.WARNING, rivals=exc.runs)
            if attempt == MAX_REPLANS:
                raise
            table_event(_log, "retry", where, target, exc.version, attempt=attempt + 1)
            continue
        table_event(_log, "publish", where, target, commit.version, candidate=build.version, warnings=warnings)
        build = replace(build, version=commit.version, location=store.location(target))
        return Audited(build, outcomes, Publication(name, commit.version, True, (), warnings))
    raise AssertionError("unreachable")  # pragma: no cover


def _failed(outcomes: Sequence[Outcome], blocking: bool) -> tuple[str, ...]:
    return tuple(o.name for o in outcomes if o.blocking == blocking and not o.passed)


def refused_candidates(domains: Iterable[Domain], tables: IncrementalRuntime) -> list[Candidate]:
    """The refused candidate each gold product of `domains` keeps (`CandidateTables.kept`), product by product."""
    found = []
    for domain in domains:
        for product in domain.spec.products:
            store = tables.store_for(domain.name, Layer.GOLD, product)
            table = domain.product_table(product)
            if store.exists(table) and (kept := tables.candidates(store).kept(table)) is not None:
                found.append(kept)
    return found
