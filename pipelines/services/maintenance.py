"""Table maintenance of a domain: compact small files, expire old versions, remove orphan files.

Runs over every table the domain owns (bronze, quarantine, silver and its history, gold) with the
settings of its spec (`maintenance:`). Rows never change; time travel within the retention keeps
working; the bronze ledger and silver watermarks survive: before expiry the newest commit holds the
table's whole state (a compaction carries it, else a checkpoint commit of no rows is made). A gold
product's refused candidate older than the retention is discarded by expiry, and the catalog is told
(`ProductRegistry.discard_candidate`, as the domain), so that it stops showing it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from pipelines.core.commits import Commit
from pipelines.core.domain import Domain
from pipelines.core.names import Layer, TableId
from pipelines.ports.maintenance import TableMaintenance, state_checkpoint
from pipelines.ports.registry import ProductRegistry
from pipelines.ports.table_store import TableStore
from pipelines.services.incremental import last_upstream
from pipelines.services.tables import Tables

MB = 1 << 20
KEYED_SMALL_FILE_BYTES = 256 * 1024
"""The most a file of a silver table (entity state, history) may hold to be compacted.

Keyed rewrites lay those tables out as key-range files of `ROWS_PER_FILE` rows (1-2 MB), so that an
update rewrites only the files holding its keys; merging them into one (all are far below the
usual small-file size) made the next incremental run rewrite the whole table. The files worth
merging there are the few new keys of a run (a few KB)."""


class MaintenanceRuntime(Tables, Protocol):
    """Stores by domain and layer, the maintenance capability of each store, and the catalog as a domain."""

    def maintenance(self, store: TableStore) -> TableMaintenance: ...

    def registry(self, principal: str) -> ProductRegistry: ...


@dataclass(frozen=True)
class OwnedTable:
    """A table of a domain, the layer it belongs to and the asset it backs (`[domain, layer, name]`)."""

    table: TableId
    layer: Layer
    asset: tuple[str, ...] | None
    product: str | None = None


@dataclass(frozen=True)
class Maintained:
    """What maintenance did to one table."""

    table: TableId
    asset: tuple[str, ...] | None
    table_format: str
    files_before: int
    files_after: int
    rows_compacted: int
    versions_expired: int
    files_deleted: int
    orphans_removed: int
    candidate_discarded: int | None = None
    """The refused candidate expiry discarded (gold; see `Expiry.candidate_discarded`)."""


def owned_tables(domain: Domain) -> list[OwnedTable]:
    """Every table a domain's spec makes: bronze per event, quarantine, silver (and history), gold, event log."""
    name, spec = domain.name, domain.spec
    tables = [OwnedTable(domain.bronze_table(e), Layer.BRONZE, (name, "bronze", e)) for e in spec.events]
    tables.append(OwnedTable(domain.quarantine_table(), Layer.QUARANTINE, None))
    for entity, espec in spec.entities.items():
        tables.append(OwnedTable(domain.silver_table(entity), Layer.SILVER, (name, "silver", entity)))
        if espec.history:
            tables.append(OwnedTable(domain.history_table(entity), Layer.SILVER, (name, "silver", entity)))
    tables += [OwnedTable(domain.product_table(p), Layer.GOLD, (name, "gold", p), p) for p in spec.products]
    tables.append(OwnedTable(domain.event_log_table(), Layer.EVENT_LOG, None))
    return tables


def consumer_watermarks(
    domain: Domain, runtime: MaintenanceRuntime, readers: Iterable[Domain] = ()
) -> dict[str, set[int]]:
    """Per upstream table, the versions the silver tables and gold products of the domain and of
    `readers` last read up to (to keep readable, so that their next run reads only what changed since)."""
    marks: dict[str, set[int]] = {}
    consumers = [domain, *(reader for reader in readers if reader.name != domain.name)]
    for consumer, owned in ((c, owned) for c in consumers for owned in owned_tables(c)):
        if owned.layer not in (Layer.SILVER, Layer.GOLD):
            continue
        store = runtime.store_for(consumer.name, owned.layer, owned.product)
        if store.exists(owned.table):
            for upstream, version in last_upstream(store.history(owned.table)).items():
                marks.setdefault(upstream, set()).add(version)
    return marks


def checkpoint_state(store: TableStore, table: TableId, seen: Collection[int] | None = None) -> Commit | None:
    """Commit no rows but the table's whole state (ledger, watermark, schema) when the newest commit
    does not already hold it (no compaction ran, commits came after it, or one landed while it ran), so
    that expiring every older version loses nothing of it.

    Args:
        seen: the versions the table had before this run's compaction (see `state_checkpoint`).

    Returns:
        The checkpoint commit, or None when none was needed.
    """
    properties = state_checkpoint(store.history(table), seen)
    if properties is None:
        return None
    return store.append(table, store.schema(table).empty_table(), properties)


def maintain_domain(
    domain: Domain,
    runtime: MaintenanceRuntime,
    report: Callable[[Maintained], None] = lambda m: None,
    readers: Iterable[Domain] = (),
) -> list[Maintained]:
    """Compact, expire and clean every existing table of the domain, one table after another.

    Args:
        report: called after each table, e.g. to log progress.
        readers: other domains, whose products may read this domain's: the versions they last read
            are kept too, so that they stay incremental.

    Returns:
        One result per table that exists.

    Raises:
        RegistryError: the catalog did not take a discarded candidate (it is gone from the table, and
            the catalog shows it until a later build's check results replace it).
    """
    settings = domain.spec.maintenance
    retention = timedelta(hours=settings.retention_hours)
    orphan_age = max(timedelta(hours=settings.orphan_age_hours), retention)  # never younger than time travel
    done = []
    watermarks = consumer_watermarks(domain, runtime, readers)
    for owned in owned_tables(domain):
        store = runtime.store_for(domain.name, owned.layer, owned.product)
        if not store.exists(owned.table):
            continue
        tools = runtime.maintenance(store)
        seen = {c.version for c in store.history(owned.table)}
        small = int(settings.small_file_mb * MB)
        if owned.layer is Layer.SILVER:
            small = min(small, KEYED_SMALL_FILE_BYTES)
        compaction = tools.compact(owned.table, small, settings.min_small_files)
        checkpoint_state(store, owned.table, seen)
        keep = watermarks.get(str(owned.table), set())
        expiry = tools.expire(owned.table, retention, keep)
        if expiry.candidate_discarded is not None and owned.product is not None:
            product = f"{domain.name}.{owned.product}"
            runtime.registry(domain.name).discard_candidate(product, expiry.candidate_discarded)
        orphans = tools.remove_orphans(owned.table, orphan_age, keep)
        result = Maintained(
            table=owned.table,
            asset=owned.asset,
            table_format=store.format.value,
            files_before=compaction.files_before,
            files_after=compaction.files_after,
            rows_compacted=compaction.rows,
            versions_expired=expiry.versions_expired,
            files_deleted=expiry.files_deleted,
            orphans_removed=orphans,
            candidate_discarded=expiry.candidate_discarded,
        )
        report(result)
        done.append(result)
    return done
