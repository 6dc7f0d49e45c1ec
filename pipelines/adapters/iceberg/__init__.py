"""The Iceberg TableStore: pyiceberg SQL catalog, field ids from the proto field numbers."""

from pipelines.adapters.iceberg.table_store import IcebergTableStore

__all__ = ["IcebergTableStore"]
