"""Benchmarks of bronze ingestion (`make bench` = `python -m benchmarks`); results go to `benchmarks/results.json`.

Every benchmark process, the baselines' included, imports `pipelines` first and so runs on the
Arrow memory pool meshlake picks (jemalloc on Linux; see `pipelines/__init__.py`): a baseline on
another allocator would measure the allocator too (`pyarrow.parquet.write_table` of the 1M-event
table took 0.93-0.96 s on mimalloc, 0.84-0.89 s on jemalloc).
"""

import pipelines  # noqa: F401  (before any benchmark module imports pyarrow)
