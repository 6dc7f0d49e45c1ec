"""Silver and gold builds: read inputs, run the domain's pure transform, commit the result.

Silver is incremental (see `pipelines.services.silver`); gold recomputes the partitions its inputs'
changes touch when its spec says how inputs map to partitions (see `pipelines.services.gold`), else
its whole product, and replaces the whole table or the partitions (days, weeks) a run was asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipelines.core.domain import Domain
from pipelines.core.engine import is_portable
from pipelines.core.names import Layer, TableId
from pipelines.core.spec import DomainSpec, published_to
from pipelines.logs import AssetRun, table_event
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError, refuse_all
from pipelines.ports.engine import ComputeEngine
from pipelines.services.build_types import BuildResult, PartitionWindow
from pipelines.services.gold import Source, touched_partitions
from pipelines.services.gold_build import GoldBuild
from pipelines.services.incremental import UPSTREAM_PROPERTY, IncrementalRuntime, last_upstream
from pipelines.services.silver import SilverTables, build_entity

__all__ = [
    "UPSTREAM_PROPERTY",
    "BuildResult",
    "InputNotAllowedError",
    "PartitionWindow",
    "build_product",
    "build_silver",
    "published_inputs",
]

_log = logging.getLogger(__name__)


class InputNotAllowedError(Exception):
    """A product reads something it may not: another domain's bronze/silver or an unknown product."""


def _latest(sources: list[Source]) -> dict[str, int]:
    """The newest version of each input, as a product's commits record them (`UPSTREAM_PROPERTY`)."""
    return {str(s.table): history[-1].version if (history := s.store.history(s.table)) else 0 for s in sources}


def build_silver(
    domain: Domain,
    entity: str,
    tables: SilverTables,
    run_id: str,
    full: bool = False,
    engine: ComputeEngine | None = None,
) -> BuildResult:
    """Bring a silver entity up to date with bronze: incremental upsert, or a rebuild when `full`.

    Args:
        engine: where a rebuild of the state table (`full`, or the first build) is computed (None: here); an
            upsert of changes (small) is always computed here.

    Returns:
        The state table's result; `details` holds the run's counts, where it was computed (`engine`, and the
        engine's metrics), and the history table's when kept.
    """
    builds = build_entity(domain, entity, tables, run_id, full=full, engine=engine)
    state = builds[0]
    details: dict[str, Any] = state.engine | {
        "mode": "incremental" if state.incremental else "full",
        "keys_changed": state.changed_keys,
        "rows_rewritten": state.rows_rewritten,
        "files_rewritten": state.files_rewritten,
        "files_merged_on_read": state.files_merged_on_read,
    }
    if state.changes is not None:  # None: an engine read bronze and did not count it
        details |= {"events_read": state.changes, "rows_scanned": state.rows_scanned}
    if state.reasons:
        details["full_read_reasons"] = list(state.reasons)
    for history in builds[1:]:
        details["history_table"] = str(history.table)
        details["history_rows"] = history.rows
        details["history_version"] = history.version
        details["history_engine"] = history.engine["engine"]
    return BuildResult(state.table, state.rows, state.version, state.upstream, state.schema, state.location, details)


def published_inputs(domain: str, specs: Iterable[DomainSpec]) -> frozenset[str]:
    """The products of other domains `domain` may read, as the specs grant them."""
    return published_to(domain, specs)


def _sources(domain: Domain, product: str, tables: IncrementalRuntime, published: frozenset[str]) -> list[Source]:
    spec = domain.spec.products[product]
    mappings = spec.partition.sources if spec.partition else {}
    sources = []
    for ref in spec.inputs:
        layer, _, name = ref.partition(".")
        if layer == "silver":
            store, table = tables.store_for(domain.name, Layer.SILVER), domain.silver_table(name)
        elif layer == domain.name:
            store, table = tables.store_for(domain.name, Layer.GOLD, name), domain.product_table(name)
        else:
            if ref not in published:
                raise InputNotAllowedError(
                    f"{domain.name}.{product} reads {ref!r}, which is not a product published to {domain.name}"
                )
            store, table = tables.store_for(layer, Layer.GOLD, name), TableId(layer, name)
        sources.append(Source(ref, name, store, table, tables.incremental(store), mappings.get(ref)))
    return sources


MAX_REPLANS = 5
"""Times a gold build plans again after another run committed to its table first."""


def build_product(
    domain: Domain,
    product: str,
    tables: IncrementalRuntime,
    run_id: str,
    published: frozenset[str] = frozenset(),
    window: PartitionWindow | None = None,
    full: bool = False,
    staged: bool = False,
    engine: ComputeEngine | None = None,
) -> BuildResult:
    """Build a gold product from silver entities and published products.

    A run over every partition of a product whose spec declares `partition.sources` recomputes
    only the partitions its inputs' changes since the last run touch (see `pipelines.services.gold`);
    otherwise, or when `full`, it reads its inputs whole.

    Args:
        published: `<domain>.<product>` names of other domains' products this domain may read
            (see `published_inputs`).
        window: the partitions to replace; None (or a complete window) replaces the whole table.
        full: recompute from all of the inputs even when the changes since the last run are known.
        staged: commit a candidate version that readers do not see (`CandidateTables.staging`),
            for the caller to audit and publish (`pipelines.services.wap`); otherwise the commit is
            the product's current version at once.
        engine: where a portable transform runs (None: here, on Polars); a plain Polars transform always
            runs here (`details` says so). Either way the commit is this service's, with the same watermark.

    Returns:
        The build (with `staged`, `version` is the candidate's); `details` says how: `mode` (full,
        incremental, partitions), `rows_read` of the inputs to compute the product (and
        `changed_rows_read`, what finding the partitions read), and the partitions replaced.

    A commit holds only on the table as this build read it: when another run (a second scheduler)
    committed first, the commit is refused and the build plans again on the new state, whichever
    way it commits (an overwrite of a product without order or of no rows too: a stale build never
    replaces a newer one). When the run that committed first built the very input versions the
    build would read now, it did the build's work: nothing more is committed (not for a candidate, `staged`:
    write-audit-publish settles races at its publish).

    Raises:
        InputNotAllowedError: an input names another domain's product that is not published to it.
        ConcurrentCommitError: other runs kept committing first, `MAX_REPLANS` times.
    """
    where = AssetRun(domain.name, f"{domain.name}/{Layer.GOLD}/{product}", run_id)
    for attempt in range(1, MAX_REPLANS + 1):
        try:
            built = _build_product(
                domain, product, tables, run_id, published, window, full, staged, engine, overtaken=attempt > 1
            )
        except ConcurrentCommitError as exc:
            table_event(_log, "conflict", where, exc.table, version=exc.version, level=logging.WARNING, rivals=exc.runs)
            if attempt == MAX_REPLANS:
                raise
            table_event(_log, "retry", where, exc.table, version=exc.version, attempt=attempt + 1)
            continue
        table_event(
            _log,
            "commit",
            where,
            built.table,
            version=built.version,
            rows=built.rows,
            mode=built.details.get("mode"),
            candidate=staged,
        )
        return built
    raise AssertionError("unreachable")  # pragma: no cover


def _build_product(
    domain: Domain,
    product: str,
    tables: IncrementalRuntime,
    run_id: str,
    published: frozenset[str],
    window: PartitionWindow | None,
    full: bool,
    staged: bool,
    engine: ComputeEngine | None,
    overtaken: bool,
) -> BuildResult:
    spec = domain.spec.products[product]
    sources = _sources(domain, product, tables, published)
    store = tables.store_for(domain.name, Layer.GOLD, product)
    if staged:
        store = tables.candidates(store).staging()
    target = domain.product_table(product)
    partition = spec.partition
    history = store.history(target) if store.exists(target) else []
    check = CommitCheck.on(history, refuse_all)
    portable = engine is not None and is_portable(domain.transforms[spec.transform])
    build = GoldBuild(
        domain, product, tables, store, target, sources, run_id, check, engine if portable else None, {}, not staged
    )
    if engine is not None and not portable:
        build.notes["engine_fallback"] = f"{spec.transform} is a Polars transform (not @portable): computed embedded"
    if (
        overtaken
        and not staged
        and window is None
        and history
        and last_upstream(history) == (latest := _latest(sources))
    ):
        return build.unchanged(history[-1].version, latest)
    if partition is None:
        return build.whole({})
    if full or not store.exists(target) or (window is not None and window.complete):
        reason = "first run" if not store.exists(target) else "a full rebuild was asked for"
        return build.whole({"full_read_reason": reason})
    last = last_upstream(store.history(target))
    if window is not None:  # the changes outside the window are still to be read: the watermark stays
        return build.partitions(window.values(), last, "partitions", {})
    touched, reason = touched_partitions(sources, last, partition)
    if touched is None:
        return build.whole({"full_read_reason": reason})
    return build.partitions(
        touched.partitions, touched.upstream, "incremental", {"changed_rows_read": touched.rows_scanned}
    )
