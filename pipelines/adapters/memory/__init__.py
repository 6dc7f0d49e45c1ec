"""The in-memory TableStore: a real implementation kept in dictionaries, for tests and dry runs."""

from pipelines.adapters.memory.table_store import MemoryTableStore

__all__ = ["MemoryTableStore"]
