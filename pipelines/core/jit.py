"""The decorator of meshlake's compiled kernels (numba): cached machine code that runs without the GIL.

`cache=True` keeps the compiled code next to the module (`__pycache__`) so that only the first
process after a change pays the compile (a few seconds); where that folder is not writable (a
read-only install) numba falls back to the user's cache directory, and `NUMBA_CACHE_DIR` overrides
both. `nogil=True` lets threads run kernels on every core at once.
"""

from __future__ import annotations

from numba import njit

compiled = njit(cache=True, nogil=True)
"""Compile a function of numbers and numpy arrays to machine code (`@compiled`)."""
