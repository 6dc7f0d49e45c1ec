"""Arrow reads of a Delta version through pyarrow's native filesystems.

deltalake's default dataset reads through a Python filesystem (`PyFileSystem(DeltaStorageHandler)`). Arrow's
scan threads drop their last references to it after a read has returned; one that does so while the process
exits needs the GIL, is ended by the exiting interpreter, and the process aborts ("terminate called without
an active exception": `meshlake events` exited -6 in 7 of 250 runs). pyarrow's own filesystems need no GIL.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as fs
from deltalake import DeltaTable

from pipelines.adapters.storage import Location


def arrow_dataset(delta: DeltaTable, storage: Location) -> ds.Dataset:
    """delta-rs's dataset of the opened version (partition values from the log), read with `storage`'s filesystem."""
    root = fs.SubTreeFileSystem(storage.fs_path(str(delta.table_uri)), storage.filesystem)
    return delta.to_pyarrow_dataset(filesystem=root)


def read_arrow(delta: DeltaTable, storage: Location, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of the opened version (only `columns` when given)."""
    return arrow_dataset(delta, storage).to_table(columns=None if columns is None else list(columns))
