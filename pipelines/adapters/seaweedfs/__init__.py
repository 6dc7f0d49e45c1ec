"""SeaweedFS, the S3-compatible store meshlake starts locally (tests, `make dev STORAGE=s3`)."""

from pipelines.adapters.seaweedfs.server import (
    S3Identity,
    SeaweedServer,
    SeaweedStartError,
    WeedNotFoundError,
    find_weed,
)

__all__ = ["S3Identity", "SeaweedServer", "SeaweedStartError", "WeedNotFoundError", "find_weed"]
