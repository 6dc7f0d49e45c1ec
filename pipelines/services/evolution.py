"""Governed evolution of bronze tables: the proto-level check, the table change, schema versions per event.

Every bronze commit stores the event's schema fingerprint (`meshlake.schema_version`); the first
commit of a new version also stores the message's descriptors (`meshlake.schema`: the
FileDescriptorSet of its file and imports, without source info, zlib-compressed, base64) and the
message name (`meshlake.schema_message`). The table's history therefore says which schema versions
it holds, in order, and what the last one looked like.

Before writing, `prepare_bronze` compares the event's current descriptors with the last recorded
ones using `check_compatibility` (buf's WIRE_JSON rules plus the table widenings), keeping the
violations that concern the event's message and the types it uses. Any violation refuses the run
before anything is committed. A compatible change evolves the table in place
(`TableStore.evolve_schema`): new fields become nullable columns, widenings widen, and columns of
fields deleted (and reserved) stay, read as null from then on.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.descriptor_pb2 import DescriptorProto, FileDescriptorProto, FileDescriptorSet

from pipelines.core.commits import Commit
from pipelines.core.event_contract import EventContract
from pipelines.core.names import Layer, TableId
from pipelines.core.null_values import null_values
from pipelines.core.schema_rules import Rule, Violation, check_compatibility
from pipelines.core.schema_version import iter_types
from pipelines.ports.maintenance import SCHEMA_MESSAGE_PROPERTY, SCHEMA_PROPERTY, SCHEMA_VERSION_PROPERTY, schema_log
from pipelines.ports.table_evolution import SchemaChange
from pipelines.ports.table_store import Batch, PartitionField, Selection, TableStore
from pipelines.services.tables import Tables

SHOWN_VIOLATIONS = 5
"""Violations a refused change names in its message (all of them are in `violations`)."""


class SchemaChangeRefusedError(Exception):
    """The event's schema changed incompatibly with the version its bronze table holds; nothing was committed."""

    def __init__(self, table: TableId, message: str, violations: Sequence[Violation]) -> None:
        shown = [f"  {v}" for v in violations[:SHOWN_VIOLATIONS]]
        if len(violations) > SHOWN_VIOLATIONS:  # an error stays a few lines long; the check lists them all
            shown.append(f"  ... and {len(violations) - SHOWN_VIOLATIONS} more (meshlake schemas check lists them)")
        lines = "\n".join(shown)
        super().__init__(
            f"{table}: {message} changed incompatibly with the schema the table holds; nothing was committed:\n{lines}"
        )
        self.table = table
        self.violations = list(violations)


@dataclass(frozen=True)
class SchemaVersion:
    """One schema version of an event type, as its bronze table recorded it.

    Attributes:
        number: 1 for the first version the table held, then 2, 3, ...
        fingerprint: the `schema_fingerprint` of the message.
        first_used_at: when the first commit with this version was made (UTC).
        first_commit: that commit's version (Iceberg snapshot id, Delta version).
    """

    number: int
    fingerprint: str
    first_used_at: datetime
    first_commit: int


def schema_versions_of(history: Sequence[Commit]) -> list[SchemaVersion]:
    """The schema versions a table's commits record, in the order they were first used."""
    return [
        SchemaVersion(number, fingerprint, datetime.fromtimestamp(at_ms / 1000, UTC), first)
        for number, (fingerprint, at_ms, first) in enumerate(schema_log(history), start=1)
    ]


def schema_versions(tables: Tables, domain: str, event: str) -> list[SchemaVersion]:
    """The schema versions of `domain.event` its bronze table holds (empty before the first ingestion)."""
    store = tables.store_for(domain, Layer.BRONZE)
    table = TableId.bronze(domain, event)
    return schema_versions_of(store.history(table)) if store.exists(table) else []


def event_descriptors(contract: EventContract, compiled: FileDescriptorSet | None = None) -> FileDescriptorSet:
    """The FileDescriptorSet of the event's file and everything it imports, dependencies first.

    Args:
        contract: the event's contract (its message class knows its file).
        compiled: the compiled schemas with source info; files are taken from here when present, so
            that violations carry line numbers. Without it, the runtime descriptors (no lines).
    """
    available = {f.name: f for f in compiled.file} if compiled is not None else {}
    out = FileDescriptorSet()
    seen: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        proto = available.get(file.name) or FileDescriptorProto.FromString(file.serialized_pb)
        out.file.append(proto)

    add(contract.message_class.DESCRIPTOR.file)
    return out


def encode_descriptors(descriptors: FileDescriptorSet) -> str:
    """Serialise descriptors for a commit property: without source info, zlib, base64."""
    stripped = FileDescriptorSet()
    stripped.CopyFrom(descriptors)
    for file in stripped.file:
        file.ClearField("source_code_info")
    return base64.b64encode(zlib.compress(stripped.SerializeToString(deterministic=True), 9)).decode()


def decode_descriptors(text: str) -> FileDescriptorSet:
    """Parse what `encode_descriptors` wrote.

    Raises:
        ValueError: the text is not such a property.
    """
    try:
        return FileDescriptorSet.FromString(zlib.decompress(base64.b64decode(text)))
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"commit property {SCHEMA_PROPERTY} is malformed") from exc


def _closure(descriptors: FileDescriptorSet, root: str) -> set[str]:
    """Full names of `root` and of every message and enum it uses, transitively."""
    types = {t.full_name: t.proto for t in iter_types(descriptors)}
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        if name in seen or name not in types:
            continue
        seen.add(name)
        proto = types[name]
        if isinstance(proto, DescriptorProto):
            pending.extend(_references(proto))
    return seen


def _references(message: DescriptorProto) -> Iterator[str]:
    for f in message.field:
        if f.type_name:
            yield f.type_name.lstrip(".")
    for nested in message.nested_type:
        yield from _references(nested)


def breaking_changes(
    recorded: FileDescriptorSet, recorded_message: str, current: FileDescriptorSet, message: str
) -> list[Violation]:
    """Violations of the schema rules, between the recorded and the current schema, that concern the event.

    Only the event's message and the types it uses (before or after) count; a change elsewhere in
    the same files is `meshlake schemas check`'s business, not this table's.
    """
    file_of = {t.full_name: t.file.name for t in iter_types(current)}
    if recorded_message != message or message not in file_of:
        text = f"the event's message was {recorded_message}; a message of another name is another event type"
        return [Violation(file_of.get(message, "?"), 1, message, Rule.MESSAGE_NO_DELETE, text)]
    names = _closure(recorded, recorded_message) | _closure(current, message)
    return [
        v
        for v in check_compatibility(recorded, current)
        if any(v.element == n or v.element.startswith(f"{n}.") for n in names)
        or (v.rule == Rule.FILE_SAME_SYNTAX and v.file == file_of[message])
    ]


def _merged_type(table: pa.DataType, event: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(table) and pa.types.is_struct(event):
        return pa.struct(_merged_fields(list(table.fields), list(event.fields)))
    if pa.types.is_map(table) and pa.types.is_map(event):
        key, item = _merged_fields([table.key_field, table.item_field], [event.key_field, event.item_field])
        return pa.map_(key, item)
    if pa.types.is_list(table) and pa.types.is_list(event):
        return pa.list_(_merged_fields([table.value_field], [event.value_field])[0])
    if table == pa.int64() and event == pa.uint64():  # a table made before uint64 was stored as decimal(20,0)
        return table
    return event


def _merged_fields(table: list[pa.Field], event: list[pa.Field]) -> list[pa.Field]:
    """The event's fields (types merged with the table's), then the table's fields the event no longer has."""
    by_name = {f.name: f for f in table}
    merged = [f.with_type(_merged_type(by_name[f.name].type, f.type)) if f.name in by_name else f for f in event]
    names = {f.name for f in event}
    return merged + [f.with_nullable(True) for f in table if f.name not in names]


def target_schema(table: pa.Schema, event: pa.Schema) -> pa.Schema:
    """The schema a bronze table evolves to: the event's, plus the columns of fields it no longer has.

    A field deleted from the .proto (with its number reserved, or the proto check refuses it) keeps its
    column, which becomes nullable: old rows keep their values, new rows read null.
    """
    return pa.schema(_merged_fields(list(table), list(event)), metadata=event.metadata)


@dataclass
class BronzeSchema:
    """The bronze table of one event, checked and evolved for the event's current schema.

    Attributes:
        table: the bronze table.
        schema: the table's schema after evolution.
        version: the number of the event's current schema version in the table (see `SchemaVersion`).
        fingerprint: the event's current schema version.
        history: the table's data commits, read after evolution (`TableStore.history`).
        changes: what the evolution changed (empty when nothing).
        pending: properties the next commit records once (the descriptors of a new version).
    """

    table: TableId
    schema: pa.Schema
    version: int
    fingerprint: str
    history: list[Commit]
    changes: tuple[SchemaChange, ...] = ()
    pending: dict[str, str] = field(default_factory=dict)

    def commit_properties(self) -> dict[str, str]:
        """The schema properties of the next commit; call `committed()` once it succeeded."""
        return {SCHEMA_VERSION_PROPERTY: self.fingerprint, **self.pending}

    def committed(self) -> None:
        """The descriptors are recorded: later commits carry only the fingerprint."""
        self.pending = {}

    def conform(self, data: pa.Table) -> pa.Table:
        """`data` of the event schema with null columns for the table columns the event no longer has."""
        missing = [f for f in self.schema if f.name not in data.column_names]
        for f in missing:
            data = data.append_column(f, null_values(f.type, data.num_rows))
        return data

    def conform_batch(self, batch: Batch) -> Batch:
        """`conform` of a batch; a selection keeps its rows."""
        if isinstance(batch, Selection):
            return Selection(self.conform(batch.table), batch.indices)
        return self.conform(batch)


def _last_recorded(history: Sequence[Commit]) -> Mapping[str, str] | None:
    return next((c.properties for c in reversed(history) if SCHEMA_PROPERTY in c.properties), None)


def prepare_bronze(
    store: TableStore,
    table: TableId,
    contract: EventContract,
    partition_by: Sequence[PartitionField] = (),
    descriptors: FileDescriptorSet | None = None,
) -> BronzeSchema:
    """Create the bronze table, or check the event's schema against it and evolve it.

    Args:
        store: the bronze store.
        table: the event's bronze table.
        contract: the event's current contract.
        partition_by: partitioning of a new table.
        descriptors: the compiled schemas with source info, for file:line in refusals (optional).

    Returns:
        The checked, evolved table and the properties its commits carry.

    Raises:
        SchemaChangeRefusedError: a breaking change of the event's message; nothing was committed.
        SchemaEvolutionError: the table refuses the change (only for tables without recorded
            descriptors, which the proto check cannot cover).
    """
    store.ensure_table(table, contract.bronze_schema(), partition_by)
    history = store.history(table)
    versions = schema_versions_of(history)
    current = event_descriptors(contract, descriptors)
    recorded = _last_recorded(history)
    known = {v.fingerprint: v.number for v in versions}
    if recorded is not None and versions and versions[-1].fingerprint != contract.schema_version:
        old = decode_descriptors(recorded[SCHEMA_PROPERTY])
        old_message = recorded.get(SCHEMA_MESSAGE_PROPERTY, contract.message)
        if violations := breaking_changes(old, old_message, current, contract.message):
            raise SchemaChangeRefusedError(table, contract.message, violations)
    stored = store.schema(table)
    changes = store.evolve_schema(table, target_schema(stored, contract.bronze_schema()))
    pending: dict[str, str] = {}
    if recorded is None or recorded.get(SCHEMA_VERSION_PROPERTY) != contract.schema_version:
        pending = {SCHEMA_PROPERTY: encode_descriptors(current), SCHEMA_MESSAGE_PROPERTY: contract.message}
    number = known.get(contract.schema_version, len(versions) + 1)
    if changes:  # the table moved on: its schema and history read again (on an object store, round trips each)
        stored, history = store.schema(table), store.history(table)
    return BronzeSchema(table, stored, number, contract.schema_version, history, changes, pending)
