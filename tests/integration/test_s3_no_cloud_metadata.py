"""Nothing meshlake does on an S3-compatible store reaches a cloud metadata address, even with no key given.

With no key, each library's AWS credential chain would ask the instance metadata service
(169.254.169.254, fd00:ec2::254). A child process without any AWS variable opens a location on the
test SeaweedFS and uses every library's S3 path (pyarrow, pyiceberg's FileIO, deltalake, Polars,
DuckDB's httpfs from the offline wheels) under `strace`, which records every `connect` it makes: each
goes to the store, none there (nor to DNS), and every library makes some (after its mark in the trace).
A control run of plain pyarrow with no guard proves the trace sees such a probe.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from pipelines.adapters.seaweedfs import SeaweedServer

MESHLAKE = """
import os, sys
import deltalake, duckdb, polars as pl
from pyiceberg.io import load_file_io
from pipelines.adapters.duckdb.extensions import OFFLINE_CONFIG, load_extension
from pipelines.adapters.storage import S3Options, StorageOptions, open_location


def httpfs():
    con = duckdb.connect(config=OFFLINE_CONFIG)
    load_extension(con, "httpfs")
    return con


location = open_location("s3://meshlake/no-metadata", StorageOptions(S3Options(endpoint=sys.argv[1])))
data = location.child_uri("x.parquet")
uses = {
    "pyarrow": lambda: location.list_files(),
    "pyiceberg": lambda: load_file_io(location.iceberg_properties()).new_input(location.child_uri("m.json")).open(),
    "deltalake": lambda: deltalake.DeltaTable(location.child_uri("t"), storage_options=location.delta_options()),
    "polars": lambda: pl.scan_parquet(data, storage_options=location.polars_options()).collect(),
    "duckdb": lambda: httpfs().sql(f"{location.duckdb_secret('s')}; FROM read_parquet('{data}')"),
}
for name, use in uses.items():
    os.access(f"/meshlake-uses/{name}", os.F_OK)  # a mark in the trace: the connects after it are this library's
    try:
        use()
    except Exception as exc:  # refused without a key, as expected: only where it connected matters
        print(name, type(exc).__name__, flush=True)
    else:
        print(name, "answered", flush=True)
"""

UNGUARDED = """
import sys
from pyarrow import fs

s3 = fs.S3FileSystem(endpoint_override=sys.argv[1], region="us-east-1", connect_timeout=1, request_timeout=2)
try:
    s3.get_file_info("meshlake/x")
except OSError:
    pass
"""


def _connects(script: str, endpoint: str, tmp_path: Path) -> tuple[str, str]:
    """Run `script` with only PATH, an empty HOME and this checkout first on PYTHONPATH (tests/conftest.py) in its
    environment: the connects it made (and its marks, `access` calls), and its output."""
    trace = tmp_path / "connects.txt"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": os.environ["PYTHONPATH"]}
    marks = "trace=connect,access,faccessat,faccessat2"
    command = ["strace", "-f", "-qq", "-e", marks, "-o", str(trace), sys.executable, "-c", script, endpoint]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return trace.read_text(), done.stdout


def test_no_library_asks_the_cloud_metadata_service(s3_server: SeaweedServer, tmp_path: Path) -> None:
    connects, output = _connects(MESHLAKE, s3_server.endpoint, tmp_path)

    assert [line.split()[0] for line in output.splitlines()] == [
        "pyarrow",
        "pyiceberg",
        "deltalake",
        "polars",
        "duckdb",
    ]

    found = re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', connects)
    addresses = {v4 or v6 for v4, v6 in found}
    assert addresses == {s3_server.host}, connects  # the store only: no metadata service, no DNS, nothing else
    # and each library reached the store itself: one refusing before any connect would otherwise pass unseen
    store = f'sin_port=htons({urlparse(s3_server.endpoint).port}), sin_addr=inet_addr("{s3_server.host}")'
    reached: dict[str, int] = {}
    library = None
    for line in connects.splitlines():
        if mark := re.search(r'"/meshlake-uses/(\w+)"', line):
            library = mark[1]
            reached[library] = 0
        elif library is not None and " connect(" in line and store in line:
            reached[library] += 1
    assert list(reached) == ["pyarrow", "pyiceberg", "deltalake", "polars", "duckdb"], connects
    assert all(reached.values()), f"connects to the store after each library's mark: {reached}"


def test_the_trace_sees_a_metadata_probe_when_nothing_prevents_it(s3_server: SeaweedServer, tmp_path: Path) -> None:
    assert "169.254.169.254" in _connects(UNGUARDED, s3_server.endpoint, tmp_path)[0]
