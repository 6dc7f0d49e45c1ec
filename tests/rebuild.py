"""A domain's tables after racing writers, compared with what its landing files and a full rebuild give.

Bronze and quarantine together must hold every frame of the landing files exactly once; silver and
gold must equal a full rebuild from bronze (`build_silver`/`build_product` with `full=True`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import polars as pl

from pipelines.bootstrap import Runtime
from pipelines.core.names import Layer, TableId
from pipelines.core.positions import Ledger
from pipelines.services.build import build_product, build_silver


def tables(runtime: Runtime, domain: str) -> dict[Layer, list[tuple[str | None, TableId]]]:
    """The domain's tables by layer: (the product, the table)."""
    spec = runtime.domain(domain)
    return {
        Layer.BRONZE: [(None, spec.bronze_table(e)) for e in spec.spec.events],
        Layer.SILVER: [(None, spec.silver_table(e)) for e in spec.spec.entities],
        Layer.GOLD: [(p, spec.product_table(p)) for p in spec.spec.products],
    }


def positions(runtime: Runtime, domain: str) -> tuple[set[tuple[str, int]], Counter[tuple[str, int]]]:
    """Every frame of the domain's landing files (source, offset), and how often bronze and quarantine hold each."""
    spec = runtime.domain(domain)
    frames = {
        (batch.source, int(offset))
        for event in spec.spec.events
        for batch in runtime.landing.batches(domain, event, Ledger())
        for offset in batch.offsets
    }
    held: Counter[tuple[str, int]] = Counter()
    for event in spec.spec.events:
        bronze = runtime.store_for(domain, Layer.BRONZE)
        if not bronze.exists(spec.bronze_table(event)):
            continue
        column = bronze.read(spec.bronze_table(event), ["_ingest"]).column(0).combine_chunks()
        held.update(zip(column.field("source").to_pylist(), column.field("offset").to_pylist(), strict=True))
    quarantine = runtime.store_for(domain, Layer.QUARANTINE)
    if quarantine.exists(spec.quarantine_table()):
        rejects = quarantine.read(spec.quarantine_table(), ["source", "offset"])
        held.update(zip(rejects.column(0).to_pylist(), rejects.column(1).to_pylist(), strict=True))
    return frames, held


def frame_errors(runtime: Runtime, domain: str) -> dict[str, int]:
    """Frames bronze and quarantine hold more than once (each extra copy counted), frames they miss, and rows
    they hold at no frame of the landing files: all 0 when each frame is held exactly once (and there are some)."""
    frames, held = positions(runtime, domain)
    assert frames, f"{domain}'s landing source holds no frame: no event landed where the runtime reads"
    return {
        "duplicated": sum(n - 1 for n in held.values()),
        "lost": len(frames - set(held)),
        "unknown": len(set(held) - frames),
    }


NO_FRAME_ERRORS = {"duplicated": 0, "lost": 0, "unknown": 0}


def contents(runtime: Runtime, domain: str, layers: Sequence[Layer]) -> dict[str, pl.DataFrame]:
    """The rows of every table of `layers` (silver's with its history tables), sorted."""
    found = {}
    for layer in layers:
        for product, table in tables(runtime, domain)[layer]:
            frame = pl.from_arrow(runtime.store_for(domain, layer, product).read(table))
            assert isinstance(frame, pl.DataFrame)
            found[str(table)] = frame.sort(frame.columns)
    spec = runtime.domain(domain)
    for entity, entity_spec in spec.spec.entities.items():
        if Layer.SILVER in layers and entity_spec.history:
            frame = pl.from_arrow(runtime.store_for(domain, Layer.SILVER).read(spec.history_table(entity)))
            assert isinstance(frame, pl.DataFrame)
            found[str(spec.history_table(entity))] = frame.sort(frame.columns)
    return found


def assert_equals_a_rebuild(
    runtime: Runtime, domain: str, layers: Sequence[Layer] = (Layer.SILVER, Layer.GOLD)
) -> None:
    """The tables of `layers` (silver, gold) as built, none empty, hold the same rows as after a full rebuild from
    bronze."""
    built = contents(runtime, domain, layers)
    assert all(frame.height for frame in built.values()), {name: frame.height for name, frame in built.items()}
    spec = runtime.domain(domain)
    for entity in spec.spec.entities:
        build_silver(spec, entity, runtime, "rebuild", full=True)
    for product in spec.spec.products if Layer.GOLD in layers else ():
        build_product(spec, product, runtime, "rebuild", full=True)
    rebuilt = contents(runtime, domain, layers)
    assert {name: frame.height for name, frame in built.items()} == {n: f.height for n, f in rebuilt.items()}
    for name, frame in built.items():
        assert frame.equals(rebuilt[name]), name
