"""S3 and S3-compatible stores (SeaweedFS, MinIO): `s3://bucket/prefix`, one set of options for every library."""

from __future__ import annotations

import os
from functools import cached_property
from urllib.parse import urlparse

from pyarrow import fs

from pipelines.adapters.storage.options import S3Options, StorageOptions

METADATA_DISABLED_ENV = "AWS_EC2_METADATA_DISABLED"


def switch_off_aws_sdk_instance_metadata() -> None:
    """Set `AWS_EC2_METADATA_DISABLED=true` for the process, unless it is set otherwise.

    pyarrow's S3FileSystem (and pyiceberg's FileIO on it) is the AWS C++ SDK, whose credential chain asks the
    instance metadata service (169.254.169.254) when no key is given; it has no option to skip that, only
    this variable, read when a chain is built. The one place meshlake writes the environment for S3.
    """
    os.environ.setdefault(METADATA_DISABLED_ENV, "true")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class S3Backend:
    """Objects on S3; every library gets the same endpoint, region, addressing style and credentials.

    Credentials left unset come from each library's AWS chain (environment variables, profile). With an
    explicit endpoint (a store that is not AWS) no library asks a cloud metadata service for them: the
    AWS C++ SDK (pyarrow) is told by `switch_off_aws_sdk_instance_metadata`, and object_store (deltalake,
    Polars), whose chain past the keys is only the metadata services, signs nothing without a key
    (`aws_skip_signature`); DuckDB's httpfs uses the secret's key only.
    Delta commits use the store's conditional put (`If-None-Match`, answered 412 by SeaweedFS, MinIO,
    R2 and S3 itself), so two writers never overwrite one commit.
    """

    scheme = "s3"

    def __init__(self, options: StorageOptions) -> None:
        self.options: S3Options = options.s3
        if self.options.endpoint:
            switch_off_aws_sdk_instance_metadata()

    @cached_property
    def _filesystem(self) -> fs.S3FileSystem:
        o = self.options
        return fs.S3FileSystem(
            access_key=o.access_key_id,
            secret_key=o.secret_access_key,
            session_token=o.session_token,
            region=o.region_or_default if o.endpoint else o.region,
            endpoint_override=o.endpoint,
            scheme="http" if o.allow_http else "https",
            force_virtual_addressing=not o.path_style,
            allow_delayed_open=True,  # a file under the multipart size is one PUT at close, not create/part/complete
            connect_timeout=5,
            request_timeout=30,
            retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=3),
        )

    def filesystem(self) -> fs.FileSystem:
        return self._filesystem

    def fs_path(self, uri: str) -> str:
        parsed = urlparse(uri)
        return f"{parsed.netloc}{parsed.path}".rstrip("/")

    def iceberg_properties(self) -> dict[str, str]:
        o = self.options
        props = {
            "s3.endpoint": o.endpoint,
            "s3.region": o.region_or_default if o.endpoint else o.region,
            "s3.access-key-id": o.access_key_id,
            "s3.secret-access-key": o.secret_access_key,
            "s3.session-token": o.session_token,
            "s3.force-virtual-addressing": "false" if o.path_style else "true",
            "s3.connect-timeout": "5",
        }
        return {k: v for k, v in props.items() if v is not None}

    def _object_store_options(self) -> dict[str, str]:
        o = self.options
        props = {
            "aws_endpoint": o.endpoint,
            "aws_region": o.region_or_default if o.endpoint else o.region,
            "aws_access_key_id": o.access_key_id,
            "aws_secret_access_key": o.secret_access_key,
            "aws_session_token": o.session_token,
            "aws_allow_http": "true" if o.allow_http else None,
            "aws_virtual_hosted_style_request": "false" if o.path_style else "true",
            "aws_skip_signature": "true" if o.endpoint and not o.access_key_id else None,
        }
        return {k: v for k, v in props.items() if v is not None}

    def delta_options(self) -> dict[str, str] | None:
        return {**self._object_store_options(), "aws_conditional_put": "etag"}

    def environment(self) -> dict[str, str]:
        """The `AWS_*` variables that give another process reading the store through object_store's
        `AmazonS3Builder::from_env` and the AWS SDK's default chain (a Sail server) the same endpoint, region,
        addressing style, credentials and conditional put as `delta_options`; with an endpoint, also
        `AWS_EC2_METADATA_DISABLED=true`: that process asks no cloud metadata service either."""
        out = {key.upper(): value for key, value in (self.delta_options() or {}).items()}
        return out | ({METADATA_DISABLED_ENV: "true"} if self.options.endpoint else {})

    def polars_options(self) -> dict[str, str] | None:
        return self._object_store_options()

    def duckdb_secret(self, name: str, scope: str) -> str | None:
        o = self.options
        parts = ["TYPE s3", f"SCOPE {_sql_string(scope)}"]
        if o.endpoint:
            endpoint = urlparse(o.endpoint)
            parts += [f"ENDPOINT {_sql_string(endpoint.netloc)}", f"USE_SSL {'false' if o.allow_http else 'true'}"]
        parts.append(f"URL_STYLE {_sql_string('path' if o.path_style else 'vhost')}")
        region = o.region_or_default if o.endpoint else o.region
        for key, value in (
            ("REGION", region),
            ("KEY_ID", o.access_key_id),
            ("SECRET", o.secret_access_key),
            ("SESSION_TOKEN", o.session_token),
        ):
            if value:
                parts.append(f"{key} {_sql_string(value)}")
        return f"CREATE OR REPLACE SECRET {name} ({', '.join(parts)})"
