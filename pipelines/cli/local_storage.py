"""`--storage s3` of `meshlake demo` and `meshlake dev`: a SeaweedFS under the home, and the settings that
put the warehouse and the landing zone on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.adapters.seaweedfs import SeaweedServer

BUCKET = "meshlake"


class Storage(StrEnum):
    LOCAL = "local"
    S3 = "s3"


@contextmanager
def local_object_store(home: Path) -> Iterator[SeaweedServer]:
    """Run SeaweedFS with its data in `<home>/seaweedfs` (kept between runs) on free loopback ports."""
    from pipelines.adapters.seaweedfs import SeaweedServer

    with SeaweedServer(home / "seaweedfs", buckets=(BUCKET,)) as server:
        yield server


def object_store_variables(server: SeaweedServer) -> dict[str, str]:
    """The `MESHLAKE_*` variables that put the warehouse (`s3://meshlake/warehouse`) and the landing zone
    (`s3://meshlake/landing`) on `server`, with its endpoint and key; `AWS_EC2_METADATA_DISABLED=true`, so
    no AWS SDK looks for cloud credentials."""
    return {
        "MESHLAKE_WAREHOUSE": f"s3://{BUCKET}/warehouse",
        "MESHLAKE_LANDING": f"s3://{BUCKET}/landing",
        "MESHLAKE_S3_ENDPOINT": server.endpoint,
        "MESHLAKE_S3_ACCESS_KEY_ID": server.access_key,
        "MESHLAKE_S3_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
