"""A 64-bit hash of text that never changes between releases (FNV-1a over the UTF-8 bytes).

Polars' and Arrow's hashes may change with their versions; a value stored in a table and compared
with one computed years later must not.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

from pipelines.core.jit import compiled

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@compiled
def _fnv1a(offsets: NDArray[np.int64], data: NDArray[np.uint8], out: NDArray[np.uint64]) -> None:
    for row in range(out.shape[0]):
        value = _FNV_OFFSET
        for at in range(offsets[row], offsets[row + 1]):
            value = (value ^ np.uint64(data[at])) * _FNV_PRIME
        out[row] = value


def stable_hash64(texts: pl.Series) -> NDArray[np.uint64]:
    """The FNV-1a hash of each text (of its UTF-8 bytes), or of each bytes value as it is; a null hashes like empty."""
    binary = texts.dtype == pl.Binary  # bytes ids need not be UTF-8: hashed as they are
    values = texts.fill_null(b"") if binary else texts.cast(pl.String).fill_null("")
    array = values.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    out = np.empty(len(array), dtype=np.uint64)
    if len(array) == 0:
        return out
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    _fnv1a(offsets, data, out)
    return out
