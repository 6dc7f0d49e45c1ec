"""The settings of each storage backend, handed in by the wiring (never read from the environment here)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible store; unset values come from the AWS chain (environment, profile).

    Attributes:
        endpoint: the endpoint URL (`http://127.0.0.1:8333` for SeaweedFS); None means AWS itself.
        region: the region (`us-east-1` when an endpoint is set and no region is).
        path_style: address buckets as `endpoint/bucket/key` (SeaweedFS, MinIO) instead of `bucket.endpoint`.
        access_key_id: the access key id.
        secret_access_key: the secret access key (never shown in a repr).
        session_token: a session token for temporary credentials (never shown in a repr).
    """

    endpoint: str | None = None
    region: str | None = None
    path_style: bool = True
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @property
    def allow_http(self) -> bool:
        return bool(self.endpoint and self.endpoint.startswith("http://"))

    @property
    def region_or_default(self) -> str:
        return self.region or "us-east-1"


@dataclass(frozen=True)
class StorageOptions:
    """Options of every backend; each backend reads its own."""

    s3: S3Options = field(default_factory=S3Options)
