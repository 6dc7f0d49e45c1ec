"""How meshlake's kernels are compiled (numba): cached machine code that runs without the GIL, and a byte copy.

`cache=True` keeps the compiled code next to the module (`__pycache__`) so that only the first
process after a change pays the compile (a few seconds); where that folder is not writable (a
read-only install) numba falls back to the user's cache directory, and `NUMBA_CACHE_DIR` overrides
both. `nogil=True` lets threads run kernels on every core at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

compiled = njit(cache=True, nogil=True)
"""Compile a function of numbers and numpy arrays to machine code (`@compiled`)."""


def _copy_bytes(typingctx: Any, target: Any, target_at: Any, source: Any, source_at: Any, size: Any) -> Any:
    """The typing and code of `copy_bytes` (a numba intrinsic): uint8 arrays only, as it copies bytes."""
    if not all(isinstance(a, types.Array) and a.dtype == types.uint8 for a in (target, source)):
        return None
    signature = types.void(target, types.int64, source, types.int64, types.int64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        target_value, target_at, source_value, source_at, size = args
        to = context.make_array(sig.args[0])(context, builder, target_value)
        start = context.make_array(sig.args[2])(context, builder, source_value)
        to_at, start_at = builder.gep(to.data, [target_at]), builder.gep(start.data, [source_at])
        cgutils.raw_memcpy(builder, to_at, start_at, size, 1)  # type: ignore[no-untyped-call]
        return context.get_dummy_value()

    return signature, codegen


Bytes = npt.NDArray[np.uint8]
copy_bytes = cast(Callable[[Bytes, int, Bytes, int, int], None], intrinsic(_copy_bytes))
"""In a compiled kernel, `copy_bytes(target, t, source, s, n)` copies `source[s:s + n]` to `target[t:t + n]`
(uint8 arrays) with one `memcpy`, unchecked: the caller keeps both ranges in bounds.

numba compiles a slice assignment to a loop over the elements, with its shape checks: on the
short strings of protobuf messages (2-36 bytes) that took 2.9x as long as a `memcpy` each
(`gather_bytes`, benchmarks: ingest). Built on LLVM's memcpy intrinsic, unlike a ctypes call
to libc, so that the kernels calling it can still be cached.
"""
