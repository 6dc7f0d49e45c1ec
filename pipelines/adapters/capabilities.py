"""Capabilities beyond TableStore (incremental reads and rewrites, maintenance), found by the store's format.

Each implementation lives next to its TableStore (`adapters/<format>/incremental.py`, `maintenance.py`)
and is imported only when first asked for.
"""

from __future__ import annotations

import importlib
from typing import cast

from pipelines.core.commits import TableFormat
from pipelines.ports.candidates import CandidateTables
from pipelines.ports.incremental import IncrementalTables
from pipelines.ports.maintenance import TableMaintenance
from pipelines.ports.table_store import TableStore

_INCREMENTAL = {
    TableFormat.ICEBERG: ("pipelines.adapters.iceberg.incremental", "IcebergIncremental"),
    TableFormat.DELTA: ("pipelines.adapters.delta.incremental", "DeltaIncremental"),
    TableFormat.MEMORY: ("pipelines.adapters.memory.incremental", "MemoryIncremental"),
}
_CANDIDATES = {
    TableFormat.ICEBERG: ("pipelines.adapters.iceberg.candidates", "IcebergCandidates"),
    TableFormat.DELTA: ("pipelines.adapters.delta.candidates", "DeltaCandidates"),
    TableFormat.MEMORY: ("pipelines.adapters.memory.candidates", "MemoryCandidates"),
}
_MAINTENANCE = {
    TableFormat.ICEBERG: ("pipelines.adapters.iceberg.maintenance", "IcebergMaintenance"),
    TableFormat.DELTA: ("pipelines.adapters.delta.maintenance", "DeltaMaintenance"),
    TableFormat.MEMORY: ("pipelines.adapters.memory.maintenance", "MemoryMaintenance"),
}


def _build(registry: dict[TableFormat, tuple[str, str]], store: TableStore, what: str) -> object:
    try:
        module_name, class_name = registry[store.format]
    except KeyError:
        raise NotImplementedError(f"the {store.format} table store offers no {what}") from None
    return getattr(importlib.import_module(module_name), class_name)(store)


def incremental_for(store: TableStore) -> IncrementalTables:
    """Incremental reads and keyed rewrites over the tables of `store`.

    Raises:
        NotImplementedError: the store's format has no such implementation.
    """
    return cast("IncrementalTables", _build(_INCREMENTAL, store, "incremental reads"))


def candidates_for(store: TableStore) -> CandidateTables:
    """Candidate versions (write-audit-publish) of the tables of `store`.

    Raises:
        NotImplementedError: the store's format has no such implementation.
    """
    return cast("CandidateTables", _build(_CANDIDATES, store, "candidate versions"))


def maintenance_for(store: TableStore) -> TableMaintenance:
    """Compaction, snapshot expiry and orphan removal over the tables of `store`.

    Raises:
        NotImplementedError: the store's format has no such implementation.
    """
    return cast("TableMaintenance", _build(_MAINTENANCE, store, "maintenance"))
