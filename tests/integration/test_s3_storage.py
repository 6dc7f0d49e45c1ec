"""Tables on S3 (SeaweedFS): concurrent Delta writers never overwrite a commit; bad locations fail clearly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.adapters.delta import DeltaTableStore
from pipelines.adapters.iceberg import IcebergTableStore
from pipelines.adapters.seaweedfs import SeaweedServer
from pipelines.adapters.storage import S3Options, StorageError, StorageOptions, open_location
from pipelines.core.names import TableId

TABLE = TableId("shop", "bronze_clicks")
SCHEMA = pa.schema([pa.field("id", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "1"})])


def test_concurrent_delta_writers_on_s3_each_get_their_own_commit(s3_prefix: str, s3_options: StorageOptions) -> None:
    """Each commit is a conditional put of the next log entry: a writer that loses the race gets 412 and
    retries on the next version, so no commit replaces another (no row lost, versions all distinct)."""
    location = open_location(f"{s3_prefix}/delta", s3_options)
    DeltaTableStore(location).ensure_table(TABLE, SCHEMA)
    writers, commits_each = 4, 5

    def write(writer: int) -> list[int]:
        store = DeltaTableStore(location)
        return [
            store.append(TABLE, pa.table({"id": [writer * 100 + n]}, schema=SCHEMA)).version
            for n in range(commits_each)
        ]

    with ThreadPoolExecutor(writers) as pool:
        versions = [v for vs in pool.map(write, range(writers)) for v in vs]

    store = DeltaTableStore(location)
    assert len(set(versions)) == writers * commits_each
    assert sorted(store.read(TABLE).column("id").to_pylist()) == sorted(
        w * 100 + n for w in range(writers) for n in range(commits_each)
    )
    assert len(store.history(TABLE)) == writers * commits_each


def _stores(uri: str, options: StorageOptions, tmp_path: Path) -> list[str]:
    errors = []
    for open_store in (
        lambda: DeltaTableStore(open_location(f"{uri}/delta", options)),
        lambda: IcebergTableStore(open_location(f"{uri}/iceberg", options), f"sqlite:///{tmp_path / 'c.db'}"),
    ):
        with pytest.raises(StorageError) as raised:
            open_store()
        errors.append(str(raised.value))
    # the store refuses every write, so nothing can land there: what a failed open could leave is its catalog
    assert not (tmp_path / "c.db").exists(), "the Iceberg catalog was created before the warehouse was checked"
    return errors


def test_a_missing_bucket_is_one_error_naming_the_uri(s3_options: StorageOptions, tmp_path: Path) -> None:
    for message in _stores("s3://no-such-bucket/lake", s3_options, tmp_path):
        assert message.startswith("s3://no-such-bucket/lake/") and "does not exist" in message


def test_wrong_credentials_are_one_error_naming_the_uri(
    s3_server: SeaweedServer, s3_prefix: str, tmp_path: Path
) -> None:
    wrong = StorageOptions(S3Options(endpoint=s3_server.endpoint, access_key_id="nobody", secret_access_key="wrong"))
    for message in _stores(s3_prefix, wrong, tmp_path):
        assert message.startswith(s3_prefix) and "ACCESS_DENIED" in message
    assert open_location(s3_prefix, StorageOptions(S3Options(
        endpoint=s3_server.endpoint, access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key
    ))).list_files() == []  # nothing half-written  # fmt: skip


def test_an_unreachable_endpoint_is_one_error_naming_the_uri(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nowhere = StorageOptions(S3Options(endpoint=f"http://127.0.0.1:{port}", access_key_id="k", secret_access_key="s"))
    for message in _stores("s3://lake/prefix", nowhere, tmp_path):
        assert message.startswith("s3://lake/prefix/") and "cannot reach the store" in message
