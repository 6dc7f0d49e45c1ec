"""The single wiring point: builds the real adapters from Settings and hands them to the services."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

import pyarrow as pa
from google.protobuf.descriptor import Descriptor

from pipelines.adapters.capabilities import candidates_for, incremental_for, maintenance_for
from pipelines.adapters.chained_source import ChainedEventSource
from pipelines.adapters.home_format import check_home_format
from pipelines.adapters.landing import LandingFileSource
from pipelines.adapters.protobuf.compiler import CompiledSchemas, SchemaError, UnknownMessageError, compile_schemas
from pipelines.adapters.storage import Location, S3Options, StorageOptions, open_location
from pipelines.adapters.table_stores import open_table_store
from pipelines.core.commits import TableFormat
from pipelines.core.domain import Domain
from pipelines.core.engine import EngineName
from pipelines.core.event_contract import EventContract
from pipelines.core.event_option_rules import EventOptionsError, check_event_options
from pipelines.core.names import Layer
from pipelines.core.proto_schema import DEFAULT_RECURSION_DEPTH, ProtoSchemaError, Recursion, arrow_schema
from pipelines.core.schema_support import unsupported_constructs
from pipelines.core.schema_version import schema_fingerprint
from pipelines.ports.candidates import CandidateTables
from pipelines.ports.engine import ComputeEngine
from pipelines.ports.event_source import EventSource
from pipelines.ports.incremental import IncrementalTables
from pipelines.ports.maintenance import TableMaintenance
from pipelines.ports.registry import ProductRegistry
from pipelines.ports.table_store import TableStore
from pipelines.project import DomainProblem, Project, spec_problem
from pipelines.settings import Settings

if TYPE_CHECKING:
    from pipelines.adapters.nats import NatsEventSource
    from pipelines.adapters.spark.engines import SparkEngines


def storage_options(s: Settings) -> StorageOptions:
    """How to reach object storage, from the settings (unset values: each library's AWS chain)."""
    return StorageOptions(
        S3Options(
            endpoint=s.s3_endpoint,
            region=s.s3_region,
            path_style=s.s3_path_style if s.s3_path_style is not None else bool(s.s3_endpoint),
            access_key_id=s.s3_access_key_id,
            secret_access_key=s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None,
            session_token=s.s3_session_token.get_secret_value() if s.s3_session_token else None,
        )
    )


def contract_from_schemas(
    schemas: CompiledSchemas, full_name: str, recursion_depth: int = DEFAULT_RECURSION_DEPTH
) -> EventContract:
    """The contract of a message: Arrow schema with docs, options, schema version, PII.

    `recursion_depth` is the domain's depth of recursive messages; a field's own
    `(meshlake.field).recursion_depth` comes first.

    Raises:
        EventOptionsError: the message's `(meshlake.event)` options do not fit its fields.
    """
    options = schemas.event_options(full_name)
    descriptor = schemas.descriptor(full_name)
    check_event_options(descriptor, options, schemas.descriptor_set, schemas.source_path(descriptor.file.name))
    return EventContract(
        message=full_name,
        message_class=schemas.message_class(full_name),
        schema=_mapped(schemas, descriptor, Recursion(recursion_depth, schemas.recursion_depths)),
        event_id=options.event_id,
        entity_key=options.entity_key,
        event_time=options.event_time,
        partition=options.partition,
        schema_version=schema_fingerprint(schemas.descriptor_set, full_name),
        pii=schemas.field_pii(full_name),
    )


def _mapped(schemas: CompiledSchemas, descriptor: Descriptor, recursion: Recursion) -> pa.Schema:
    """The message's Arrow schema; a construct no table holds is refused naming its file and line."""
    try:
        return arrow_schema(descriptor, schemas.comments(str(descriptor.full_name)), recursion)
    except ProtoSchemaError as exc:
        files, pending = set(), [descriptor.file]
        while pending:
            file = pending.pop()
            if file.name not in files:
                files.add(file.name)
                pending.extend(file.dependencies)
        where = next((v for v in unsupported_constructs(schemas.descriptor_set) if v.file in files), None)
        if where is None:
            raise
        located = replace(where, file=schemas.source_path(where.file))
        raise ProtoSchemaError(f"{located} (in {exc})") from exc


class Runtime:
    """Everything a run needs, built once from settings: domains, schemas, stores, sources.

    Args:
        settings: the settings (`Settings.load()`).
        domains: the domains to run; default: every domain of the settings' project that loads
            (the others are in `problems`).
    """

    def __init__(self, settings: Settings, domains: list[Domain] | None = None) -> None:
        self.settings = settings
        self.problems: list[DomainProblem] = []
        if domains is None:
            project = Project.load(settings)
            domains, self.problems = list(project.domains.values()), list(project.problems)
        self.domains = {d.name: d for d in domains}
        self._stores: dict[TableFormat, TableStore] = {}
        self._registries: dict[str, ProductRegistry] = {}
        self._contracts: dict[tuple[str, str], EventContract] = {}
        self._schemas: CompiledSchemas | SchemaError | None = None
        self._domain_schemas: dict[str, CompiledSchemas] = {}
        self._spark: SparkEngines | None = None

    @classmethod
    def load(cls, project: str | None = None) -> Runtime:
        """The runtime of `Settings.load(project=project)`."""
        return cls(Settings.load(project=project))

    def domain(self, name: str) -> Domain:
        try:
            return self.domains[name]
        except KeyError:
            raise KeyError(f"unknown domain {name!r}; known: {', '.join(sorted(self.domains))}") from None

    @property
    def schemas(self) -> CompiledSchemas:
        """Every .proto under the settings' schema roots, compiled once.

        Raises:
            SchemaError: a file does not compile (every call raises the same error).
        """
        if self._schemas is None:
            try:
                self._schemas = compile_schemas(self.settings.schemas)
            except SchemaError as exc:
                self._schemas = exc
        if isinstance(self._schemas, SchemaError):
            raise self._schemas
        return self._schemas

    def domain_schemas(self, domain: str) -> CompiledSchemas:
        """The compiled schemas of a domain's contracts: all of them when they compile together, else only the
        files of the domain's `schemas` folder (and what they import), so a broken .proto stops only its domain.

        Raises:
            SchemaError: the domain's own files do not compile.
        """
        try:
            return self.schemas
        except SchemaError:
            if domain not in self._domain_schemas:
                folder = self.domain(domain).spec.schemas
                files = {
                    p.relative_to(root).as_posix()
                    for root in self.settings.schemas
                    for p in (root / folder).rglob("*.proto")
                    if p.is_file()
                }
                self._domain_schemas[domain] = compile_schemas(self.settings.schemas, sorted(files))
            return self._domain_schemas[domain]

    def contract(self, domain: str, event: str) -> EventContract:
        """The contract of an event type, read from its compiled .proto (once: `schemas` is compiled once)."""
        if (domain, event) not in self._contracts:
            message = self.domain(domain).spec.events[event].message
            depth = self.domain(domain).spec.recursion_depth
            self._contracts[domain, event] = contract_from_schemas(self.domain_schemas(domain), message, depth)
        return self._contracts[domain, event]

    def drop_unusable(self) -> list[DomainProblem]:
        """Leave out every domain whose event contracts cannot be built (a .proto that does not compile, an
        unknown message, a type meshlake cannot map, options that do not fit); returns their problems, also
        added to `problems`."""
        found: list[DomainProblem] = []
        for name, domain in sorted(self.domains.items()):
            for event in domain.spec.events:
                context = f"(domain {name}, event {event})"
                try:
                    self.contract(name, event)
                except UnknownMessageError as exc:  # the spec names it: point there
                    found.append(spec_problem(self.settings.domains_dir / name, ("events", event, "message"), str(exc)))
                except EventOptionsError as exc:  # one `file:line: ...` per problem
                    found += [DomainProblem(name, None, f"{line} {context}") for line in exc.problems]
                except (SchemaError, ProtoSchemaError) as exc:  # protoc's message starts with file:line
                    found.append(DomainProblem(name, None, f"{exc} {context}"))
                else:
                    continue
                break
        for name in {problem.domain for problem in found}:  # a domain may have several problems
            del self.domains[name]
        self.problems.extend(found)
        return found

    def format_for(self, domain: str, layer: Layer, product: str | None = None) -> TableFormat:
        """Settings override, then the product's own format, then the domain's format of the layer."""
        if self.settings.format:
            return self.settings.format
        spec = self.domain(domain).spec
        if product and (fmt := spec.products[product].format):
            return fmt
        return spec.formats.for_layer(Layer.BRONZE if layer is Layer.QUARANTINE else layer)

    @cached_property
    def storage_options(self) -> StorageOptions:
        """How to reach object storage (see `storage_options`)."""
        return storage_options(self.settings)

    @cached_property
    def warehouse(self) -> Location:
        """Where the tables' files live (`warehouse`, default the home folder)."""
        return open_location(self.settings.warehouse_uri, self.storage_options)

    def store(self, fmt: TableFormat) -> TableStore:
        """The table store of a format over the warehouse.

        Raises:
            StorageError: the warehouse cannot be reached (missing bucket, refused credentials, no endpoint).
            HomeFormatError: the home holds tables written with another `MESHLAKE_FORMAT`.
        """
        if not self._stores and self.settings.warehouse is None:  # tables under the home: the embedded layout
            check_home_format(self.settings.home_dir, self.settings.format)
        if fmt not in self._stores:
            named = self.settings.iceberg_catalog
            catalog_uri = self.iceberg_catalog_uri if fmt is TableFormat.ICEBERG and named is None else None
            self._stores[fmt] = open_table_store(fmt, self.warehouse, catalog_uri=catalog_uri, catalog_name=named)
        return self._stores[fmt]

    @property
    def iceberg_catalog_uri(self) -> str:
        """The Iceberg SQL catalog's database: `iceberg_catalog_uri`, else SQLite in `<warehouse>/iceberg` on a
        folder, else (an object store warehouse) in `<home>/iceberg`: a SQLite file stays on this machine."""
        if self.settings.iceberg_catalog_uri:
            return self.settings.iceberg_catalog_uri
        folder = self.warehouse.local_path or self.settings.home_dir
        (folder / "iceberg").mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'iceberg' / 'catalog.db'}"

    def store_for(self, domain: str, layer: Layer, product: str | None = None) -> TableStore:
        return self.store(self.format_for(domain, layer, product))

    def registry(self, principal: str) -> ProductRegistry:
        """The catalog as `principal` (a domain): over HTTP when `catalog_url` is set, else embedded on the
        catalog database (`catalog_db_url`)."""
        if principal not in self._registries:
            from pipelines.adapters.catalog import make_registry

            self._registries[principal] = make_registry(
                principal,
                self.settings.catalog_url,
                self.settings.token,
                None if self.settings.catalog_url else self.settings.catalog_db_url,
            )
        return self._registries[principal]

    def engine_name(self, domain: str, product: str | None = None, entity: str | None = None) -> EngineName:
        """Where a product is computed, or an entity's rebuilds: its spec's own `engine`, else the `engine` setting."""
        spec = self.domain(domain).spec
        own = spec.products[product].engine if product else spec.entities[entity].engine if entity else None
        return own or self.settings.engine

    def engine_for(self, domain: str, product: str | None = None, entity: str | None = None) -> ComputeEngine | None:
        """The engine computing a product or the full rebuilds of a silver entity (see `engine_name`; with neither,
        the `engine` setting); None for the embedded one. Without `spark_url`, its Sail server starts when it first
        computes (its `compute` raises `SailStartError` if it does not)."""
        name = self.engine_name(domain, product, entity)
        if name is EngineName.EMBEDDED:
            return None
        if self._spark is None:
            from pipelines.adapters.spark.engines import SparkEngines

            self._spark = SparkEngines(self.settings, self.storage_options)
        return self._spark.for_domain(domain)

    def close(self) -> None:
        """Stop what the runtime started for its runs: Spark sessions, Sail servers, the served catalog."""
        if self._spark is not None:
            self._spark.close()

    def incremental(self, store: TableStore) -> IncrementalTables:
        """Incremental reads and keyed rewrites over the tables of `store`."""
        return incremental_for(store)

    def candidates(self, store: TableStore) -> CandidateTables:
        """Candidate versions (write-audit-publish) of the tables of `store`."""
        return candidates_for(store)

    def maintenance(self, store: TableStore) -> TableMaintenance:
        """Compaction, expiry and orphan removal over the tables of `store`."""
        return maintenance_for(store)

    @cached_property
    def landing(self) -> LandingFileSource:
        return LandingFileSource(
            open_location(self.settings.landing_uri, self.storage_options), self.settings.landing_settle_seconds
        )

    @cached_property
    def nats(self) -> NatsEventSource | None:
        """The JetStream source when `MESHLAKE_NATS_URL` is set."""
        if not self.settings.nats_url:
            return None
        from pipelines.adapters.nats import NatsEventSource

        # deliveries await their ack until the commit that holds them: a commit's rows and the pulls made meanwhile
        return NatsEventSource(self.settings.nats_url, max_ack_pending=2 * self.settings.ingest_max_rows_per_commit)

    @cached_property
    def event_source(self) -> EventSource:
        """Where bronze reads events: landing files, then NATS JetStream when configured."""
        return ChainedEventSource([s for s in (self.landing, self.nats) if s is not None])
