"""SeaweedFS, the S3-compatible store meshlake starts locally (tests, `make dev STORAGE=s3`)."""

from pipelines.adapters.seaweedfs.server import SeaweedServer, WeedNotFoundError, find_weed

__all__ = ["SeaweedServer", "WeedNotFoundError", "find_weed"]
