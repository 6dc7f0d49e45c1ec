"""Ports: the Protocols the services use and every adapter implements."""

from pipelines.ports.event_source import EventSource, RawBatch, RawRecord
from pipelines.ports.registry import ProductRegistry, ProductVersion
from pipelines.ports.table_store import PartitionField, TableNotFoundError, TableStore

__all__ = [
    "EventSource",
    "PartitionField",
    "ProductRegistry",
    "ProductVersion",
    "RawBatch",
    "RawRecord",
    "TableNotFoundError",
    "TableStore",
]
