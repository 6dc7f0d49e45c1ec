"""meshlake's platform: core, ports, adapters, services, serving and the Dagster wiring.

Importing it names jemalloc as Arrow's memory pool for this process and its children, unless
`ARROW_DEFAULT_MEMORY_POOL` already names one. Arrow reads that variable once, when pyarrow is
first imported, which is why it is set here, before any module of meshlake imports pyarrow.

Why not pyarrow's default: on Linux that is mimalloc, which backs its arenas with transparent huge
pages, so the first touch of memory it has not used yet makes the kernel zero 2 MiB at a time.
Ingestion allocates and frees a few hundred MB per million events as it decodes and writes
batches; with mimalloc that zeroing took about a tenth of its CPU (perf: `clear_page_erms` under
`mi_page_free_list_extend`). With jemalloc the same ingest used ~10 % less CPU and peaked ~90 MB
lower (benchmarks: ingest).

It also keeps errors of the Rust libraries (Delta Lake's) to their cause: with `RUST_BACKTRACE` set
in the environment, each error message carried ~50-300 lines of backtrace into the command line,
the Dagster UI and the logs. `RUST_LIB_BACKTRACE=0` (unless set) stops library errors from capturing
one; `meshlake --verbose` turns it back on.
"""

import os
import sys

if sys.platform == "linux":  # where pyarrow's wheels carry jemalloc and mimalloc takes huge pages
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")  # read by Rust when its first error is made, so set early
