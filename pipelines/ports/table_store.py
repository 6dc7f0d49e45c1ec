"""The TableStore port: create, append, overwrite and read tables of one open table format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import pyarrow as pa

from pipelines.core.commits import Commit, TableFormat
from pipelines.core.names import TableId


class TableNotFoundError(LookupError):
    """The table does not exist in this store."""

    def __init__(self, table: TableId, where: str) -> None:
        super().__init__(f"table {table} does not exist in {where}")
        self.table = table


@dataclass(frozen=True)
class PartitionField:
    """Partition a table by `transform(column)`; `day` needs a timestamp column."""

    column: str
    transform: Literal["identity", "day", "month", "year"] = "identity"


@runtime_checkable
class TableStore(Protocol):
    """Tables of one format. Every write is one atomic commit carrying `properties`.

    Schemas are Arrow schemas; field metadata `PARQUET:field_id` (the proto field number) is kept as
    the table's field id where the format has ids. A failed write leaves the table as it was.
    """

    @property
    def format(self) -> TableFormat: ...

    def exists(self, table: TableId) -> bool: ...

    def ensure_table(
        self, table: TableId, schema: pa.Schema, partition_by: Sequence[PartitionField] = ()
    ) -> None:
        """Create the table if it does not exist; an existing table is left as it is."""
        ...

    def schema(self, table: TableId) -> pa.Schema: ...

    def append(self, table: TableId, data: pa.Table, properties: Mapping[str, str] | None = None) -> Commit:
        """Append rows in one commit that also stores `properties`; returns that commit."""
        ...

    def overwrite(
        self, table: TableId, data: pa.Table, properties: Mapping[str, str] | None = None
    ) -> Commit:
        """Replace all rows in one commit that also stores `properties`."""
        ...

    def read(
        self, table: TableId, columns: Sequence[str] | None = None, as_of: int | None = None
    ) -> pa.Table:
        """Read the table (or only `columns`), at the current or the given version."""
        ...

    def history(self, table: TableId) -> list[Commit]:
        """Every commit still in the table's history, oldest first."""
        ...

    def location(self, table: TableId) -> str:
        """A URI where the table lives (Iceberg metadata file or Delta table root)."""
        ...
