"""Maintenance, schema evolution and write-audit-publish racing other writers' commits, in real processes.

Each goes through its format's one commit loop: a commit that loses a race is planned again on the
winner's table (compaction and expiry re-read the files and properties, an evolution the schema, a
kept candidate the refs), or, for a publish overtaken on its base, refused cleanly with
`ConcurrentCommitError`. Before, an Iceberg compaction was committed again by pyiceberg on top of
the winner with the state properties it had read (the table's newest watermark went back), and an
expiry, an evolution past two attempts or keeping a candidate failed with `CommitFailedException`,
and Delta evolutions racing each other failed ("Metadata changed since last commit"). A Delta
compaction (delta-rs's OPTIMIZE) was committed on top of an append with the watermark it had read,
and appends racing an expiry failed reading the log entries it removed (`_delta_log/...json not found`,
"Invalid table version").
"""

from __future__ import annotations

from datetime import timedelta
from multiprocessing.context import ForkServerContext
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.capabilities import candidates_for, maintenance_for
from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.core.names import TableId
from pipelines.ports.commit_check import ConcurrentCommitError
from pipelines.ports.maintenance import UPSTREAM_PROPERTY
from pipelines.ports.table_store import TableStore
from tests.integration import crash_harness
from tests.processes import BARRIER_TIMEOUT_S, joined

TABLE = TableId("shop", "rows")
SCHEMA = pa.schema([("k", pa.int64()), ("v", pa.string())])
APPENDS, ROUNDS = 30, 6


def open_store(fmt: str, root: str) -> TableStore:
    return IcebergTableStore(Path(root) / "iceberg") if fmt == "iceberg" else DeltaTableStore(Path(root) / "delta")


def _rows(keys: range) -> pa.Table:
    return pa.table({"k": list(keys), "v": [str(k) for k in keys]}, schema=SCHEMA)


def append(fmt: str, root: str, start: Barrier) -> None:
    """Append `APPENDS` small commits, the i-th recording upstream version i (a watermark)."""
    store = open_store(fmt, root)
    start.wait(BARRIER_TIMEOUT_S)
    for i in range(1, APPENDS + 1):
        store.append(TABLE, _rows(range(100 + i * 10, 110 + i * 10)), {UPSTREAM_PROPERTY: str(i)})


def maintain(fmt: str, root: str, start: Barrier) -> None:
    """Compact and expire `ROUNDS` times."""
    maintenance = maintenance_for(open_store(fmt, root))
    start.wait(BARRIER_TIMEOUT_S)
    for _ in range(ROUNDS):
        maintenance.compact(TABLE, small_file_bytes=1 << 30)
        maintenance.expire(TABLE, timedelta(0))


def evolve(fmt: str, root: str, start: Barrier) -> None:
    """Add the column `note`, as every evolving process does."""
    store = open_store(fmt, root)
    start.wait(BARRIER_TIMEOUT_S)
    store.evolve_schema(TABLE, SCHEMA.append(pa.field("note", pa.string())))


def keep(fmt: str, root: str, version: int, start: Barrier) -> None:
    """Keep the candidate `version` as refused `ROUNDS` times (as each audit of a rerun would)."""
    candidates = candidates_for(open_store(fmt, root))
    start.wait(BARRIER_TIMEOUT_S)
    for _ in range(ROUNDS):
        candidates.keep(TABLE, version, ["a failing check"])


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    return crash_harness.forkserver()


def _race(forkserver: ForkServerContext, *targets: tuple[object, tuple[object, ...]]) -> list[int | None]:
    start = forkserver.Barrier(len(targets))
    processes = [forkserver.Process(target=fn, args=(*args, start)) for fn, args in targets]  # type: ignore[arg-type]
    for process in processes:
        process.start()
    return joined(processes, 180)


def _seeded(fmt: str, root: Path) -> TableStore:
    store = open_store(fmt, str(root))
    store.ensure_table(TABLE, SCHEMA)
    for part in range(4):
        store.append(TABLE, _rows(range(part * 10, part * 10 + 10)), {UPSTREAM_PROPERTY: "0"})
    return store


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_maintenance_racing_appends_loses_no_row_and_keeps_the_newest_watermark(
    tmp_path: Path, fmt: str, forkserver: ForkServerContext
) -> None:
    store = _seeded(fmt, tmp_path)

    exits = _race(forkserver, (append, (fmt, str(tmp_path))), (maintain, (fmt, str(tmp_path))))

    assert exits == [0, 0]
    expected = sorted([*range(40), *(k for i in range(1, APPENDS + 1) for k in range(100 + i * 10, 110 + i * 10))])
    assert sorted(store.read(TABLE).column("k").to_pylist()) == expected
    marks = [c.properties[UPSTREAM_PROPERTY] for c in store.history(TABLE) if UPSTREAM_PROPERTY in c.properties]
    assert marks[-1] == str(APPENDS)  # no compaction committed an older watermark over a newer one


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_schema_evolutions_racing_each_other_all_succeed(
    tmp_path: Path, fmt: str, forkserver: ForkServerContext
) -> None:
    store = _seeded(fmt, tmp_path)

    exits = _race(forkserver, *[(evolve, (fmt, str(tmp_path))) for _ in range(4)])

    assert exits == [0, 0, 0, 0]
    assert store.read(TABLE).column_names == ["k", "v", "note"]
    assert store.read(TABLE).num_rows == 40


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_keeping_a_refused_candidate_while_another_run_commits_succeeds(
    tmp_path: Path, fmt: str, forkserver: ForkServerContext
) -> None:
    store = _seeded(fmt, tmp_path)
    candidates = candidates_for(store)
    version = candidates.staging().overwrite(TABLE, _rows(range(5))).version

    exits = _race(forkserver, (keep, (fmt, str(tmp_path), version)), (append, (fmt, str(tmp_path))))

    assert exits == [0, 0]
    kept = candidates.kept(TABLE)
    assert kept is not None and kept.commit.version == version and kept.failing == ("a failing check",)
    assert store.read(TABLE).num_rows == 40 + APPENDS * 10  # readers never saw the candidate
    with pytest.raises(ConcurrentCommitError, match="another writer committed first"):
        candidates.publish(TABLE, version)  # its base is long gone: refused, nothing committed
    assert store.read(TABLE).num_rows == 40 + APPENDS * 10
    candidates.discard(TABLE)
    assert candidates.kept(TABLE) is None
