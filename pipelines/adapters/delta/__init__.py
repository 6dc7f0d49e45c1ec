"""The Delta Lake TableStore: deltalake (delta-rs) tables under one root directory."""

from pipelines.adapters.delta.table_store import DeltaTableStore

__all__ = ["DeltaTableStore"]
