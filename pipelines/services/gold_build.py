"""One gold build: its product, table and inputs, computed here or on an engine, committed whole or by partitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.core.commits import TableFormat
from pipelines.core.domain import Domain
from pipelines.core.names import TableId
from pipelines.core.spec import KeyLookup
from pipelines.ports.commit_check import CommitCheck, ConcurrentCommitError, commits_since
from pipelines.ports.engine import ComputeEngine, KeyedTarget, KeyedWriter, Scan
from pipelines.ports.table_store import TableStore
from pipelines.services.build_types import BuildResult
from pipelines.services.gold import Source, differing_rows, in_partitions, mapped, ranges_of, read_partitions
from pipelines.services.incremental import MODE_PROPERTY, UPSTREAM_PROPERTY, IncrementalRuntime, encode_upstream


def _read(store: TableStore, table: TableId) -> tuple[pl.DataFrame, int]:
    history = store.history(table)
    version = history[-1].version if history else 0
    frame = pl.from_arrow(store.read(table, as_of=version if history else None))
    assert isinstance(frame, pl.DataFrame)
    return frame, version


@dataclass(frozen=True)
class GoldBuild:
    """One gold build: the product, its table and inputs, and the two ways of committing it."""

    domain: Domain
    product: str
    tables: IncrementalRuntime
    store: TableStore
    target: TableId
    sources: list[Source]
    run_id: str
    check: CommitCheck
    """Holds the build's commit to the table as the build read it."""
    engine: ComputeEngine | None = None
    """Where the (portable) transform runs; None: here."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What the build says about itself in every result's details (how the engine was chosen)."""
    engine_writes: bool = False
    """Whether an engine that writes tables (`KeyedWriter`) may commit the product itself (not a candidate)."""

    def _function(self) -> Any:
        return self.domain.transforms[self.domain.spec.products[self.product].transform]

    def _transform(self, inputs: dict[str, pl.DataFrame]) -> pl.DataFrame:
        frame = self._function()(**inputs)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _on_engine(self, engine: ComputeEngine, scans: list[Scan], details: dict[str, Any]) -> pl.DataFrame:
        """The transform's rows computed by `engine` (in the table's schema once it has one); `details`
        gets the engine's metrics."""
        schema = self.store.schema(self.target) if self.store.exists(self.target) else None
        computed = engine.compute(self._function(), scans, schema, self.target)
        details.update(computed.metrics)
        frame = pl.from_arrow(computed.data)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _scan(self, source: Source, **filters: Any) -> Scan:
        history = source.store.history(source.table)
        version = history[-1].version if history else None
        location = source.store.location(source.table)
        return Scan(source.name, source.table, source.store.format, location, version, **filters)

    def _props(self, upstream: dict[str, int], mode: str) -> dict[str, str]:
        return {UPSTREAM_PROPERTY: encode_upstream(upstream), "meshlake.run_id": self.run_id, MODE_PROPERTY: mode}

    def _result(self, version: int, rows: int, upstream: dict[str, int], details: dict[str, Any]) -> BuildResult:
        return BuildResult(
            self.target,
            rows,
            version,
            upstream,
            self.store.schema(self.target),
            self.store.location(self.target),
            details,
        )

    def unchanged(self, version: int, upstream: dict[str, int]) -> BuildResult:
        """The product as another run just built it from the inputs at `upstream`: no commit."""
        rows = self.store.read(self.target, self.store.schema(self.target).names[:1]).num_rows
        details = {"mode": "unchanged", "reason": "another run built the same input versions first", "rows_read": 0}
        return self._result(version, rows, upstream, details)

    def whole(self, details: dict[str, Any]) -> BuildResult:
        """Compute the product from all of its inputs and replace the whole table (on a keyed table, the rows
        of the keys that changed: by the engine itself when it writes the table's format, see `KeyedWriter`)."""
        details = details | self.notes
        if self.engine is not None:
            scans = [self._scan(source) for source in self.sources]
            upstream = {str(scan.table): scan.version or 0 for scan in scans}
            spec = self.domain.spec.products[self.product]
            keyed = spec.partition is None and len(spec.key) == 1
            if keyed and (written := self._written_by_engine(scans, upstream, details, spec.key[0])) is not None:
                return written
            data = self._on_engine(self.engine, scans, details).to_arrow()
        else:
            inputs, upstream = {}, {}
            for source in self.sources:
                inputs[source.name], upstream[str(source.table)] = _read(source.store, source.table)
            details |= {"engine": "embedded", "rows_read": sum(f.height for f in inputs.values())}
            data = self._transform(inputs).to_arrow()
        existed = self.store.exists(self.target)
        self.store.ensure_table(self.target, data.schema)
        props = self._props(upstream, "full")
        spec = self.domain.spec.products[self.product]
        order = spec.partition.column if spec.partition else next(iter(spec.key), None)
        details = details | {"mode": "full", "partitions": "all"}
        if order is None or not data.num_rows:
            version = self.store.overwrite(self.target, data, props, self.check).version
        elif (
            existed
            and spec.partition is None
            and len(spec.key) == 1
            and (keys := self._changed_keys(order, data)) is not None
        ):
            details["keys_changed"] = len(keys)
            rows = data.filter(pc.is_in(data.column(order), value_set=keys))
            rewrite = self.tables.incremental(self.store).replace_keys(
                self.target, order, keys, lambda _: rows, props, check=self.check
            )
            commit = rewrite.commit or self.store.append(self.target, data.schema.empty_table(), props, self.check)
            version = commit.version
        else:  # files of ranges of the partition column or key: later reads by range or by key skip most
            rewrite = self.tables.incremental(self.store).replace_keys(
                self.target, order, None, lambda _: data, props, check=self.check
            )
            assert rewrite.commit is not None
            version = rewrite.commit.version
        return self._result(version, data.num_rows, upstream, details)

    def _written_by_engine(
        self,
        scans: list[Scan],
        upstream: dict[str, int],
        details: dict[str, Any],
        key: str,
        partitions: list[date] | None = None,
    ) -> BuildResult | None:
        """The build committed by the engine itself (see `KeyedWriter`): the rows of `partitions` of the
        partition column `key` replaced, or without `partitions` the rows of the keys that changed. None when
        it cannot: the engine does not write, the table is not Delta or not there yet, the build writes a
        candidate, or the transform's columns are not the table's. The commit holds only on the table as
        planned (else `ConcurrentCommitError`)."""
        engine = self.engine
        if not (
            isinstance(engine, KeyedWriter)
            and self.engine_writes
            and self.store.format is TableFormat.DELTA
            and self.store.exists(self.target)
        ):
            return None
        before = self.store.history(self.target)
        if not before or not self.check.allows(before):
            raise ConcurrentCommitError(self.target, commits_since(before, self.check.seen))
        mode = details.get("mode", "full")
        props = self._props(upstream, mode)
        schema = self.store.schema(self.target)
        location = self.store.location(self.target)
        period = self.domain.spec.products[self.product].partition
        ranges = (
            None
            if partitions is None
            else ranges_of(partitions, period.period if period else "day", schema.field(key).type)
        )
        target = KeyedTarget(self.target, location, before[-1].version, key, schema, props, ranges)
        written = engine.write_keys(self._function(), scans, target)
        if written is None:
            return None
        details = details | written.metrics | {"writer": engine.name}
        if partitions is None:
            details |= {"mode": mode, "partitions": "all", "keys_changed": written.keys_changed}
        else:
            details |= {"mode": mode, "partitions": [str(p) for p in partitions]}
        if written.keys_changed:
            after = self.store.history(self.target)
            mine = [c.version for c in commits_since(after, before[-1].version) if c.properties == props]
            if not mine:
                raise ValueError(
                    f"{self.target}: {engine.name} reported a write, but no commit records run {self.run_id}"
                )
            version = mine[-1]
        else:  # nothing differs: the watermark still moves on, in a commit of no rows
            version = self.store.append(self.target, schema.empty_table(), props, self.check).version
        rows = len(self.store.read(self.target, [key], as_of=version))
        return self._result(version, rows, upstream, details)

    def _changed_keys(self, key: str, data: pa.Table) -> pa.Array | None:
        """The keys whose rows differ between the table and `data`, or None when they cannot be compared
        (the columns changed): replacing only those leaves the files holding none as they are, so that
        products reading this one's changes read only what changed."""
        current = self.store.read(self.target)
        if current.schema.names != data.schema.names:
            return None
        try:
            old, new = differing_rows(current.cast(data.schema), data)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None
        keys = pl.concat([old[key], new[key]]).unique().to_arrow()
        return keys.cast(data.schema.field(key).type)

    def partitions(
        self, partitions: list[date], upstream: dict[str, int], mode: str, details: dict[str, Any]
    ) -> BuildResult:
        """Compute the product's rows in `partitions` completely and replace those partitions.

        Inputs mapped to partitions (`partition.sources`) are read for those partitions only,
        others whole.
        """
        partition = self.domain.spec.products[self.product].partition
        assert partition is not None
        details = details | self.notes
        if self.engine is not None:
            scans = [self._partition_scan(source, partitions, partition.period) for source in self.sources]
            on_engine = details | {"mode": mode}
            if (
                written := self._written_by_engine(scans, upstream, on_engine, partition.column, partitions)
            ) is not None:
                return written
            computed = self._on_engine(self.engine, scans, details)
            data = in_partitions(computed, partition.column, partitions, partition.period).to_arrow()
            return self._replace(partitions, data, upstream, mode, details)
        details["engine"] = "embedded"
        if mapped(self.sources):
            frames, rows_read = read_partitions(self.sources, partitions, partition.period)
            inputs = {source.name: frames[source.ref] for source in self.sources}
        else:
            inputs = {source.name: _read(source.store, source.table)[0] for source in self.sources}
            rows_read = sum(f.height for f in inputs.values())
        data = in_partitions(self._transform(inputs), partition.column, partitions, partition.period).to_arrow()
        return self._replace(partitions, data, upstream, mode, details | {"rows_read": rows_read})

    def _partition_scan(self, source: Source, partitions: list[date], period: str) -> Scan:
        """The scan of an input for `partitions`: by ranges of its column, by the keys of its `via` input's
        rows, or whole when the spec does not map every input."""
        if not mapped(self.sources):
            return self._scan(source)
        if isinstance(source.mapping, KeyLookup):
            via = next(s.name for s in self.sources if s.ref == source.mapping.via)
            return self._scan(source, column=source.mapping.key, keys_from=via)
        assert source.column is not None
        type_ = source.store.schema(source.table).field(source.column).type
        return self._scan(source, column=source.column, ranges=ranges_of(partitions, period, type_))

    def _replace(
        self, partitions: list[date], data: pa.Table, upstream: dict[str, int], mode: str, details: dict[str, Any]
    ) -> BuildResult:
        """Replace `partitions` of the table with `data` in one commit recording `upstream`."""
        partition = self.domain.spec.products[self.product].partition
        assert partition is not None
        outcome = self.tables.incremental(self.store).replace_keys(
            self.target,
            partition.column,
            pa.array(partitions, pa.date32()),
            lambda _current: data,
            self._props(upstream, mode),
            check=self.check,
        )
        assert outcome.commit is not None
        rows = outcome.table_rows
        if rows is None:
            rows = len(self.store.read(self.target, [partition.column], as_of=outcome.commit.version))
        details = details | {
            "mode": mode,
            "partitions": [str(p) for p in partitions],
            "rows_in_partitions": data.num_rows,
            "files_rewritten": outcome.files_rewritten,
        }
        return self._result(outcome.commit.version, rows, upstream, details)
