"""The local disk: paths and `file://` URIs; every library opens them without options."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlparse

from pyarrow import fs

from pipelines.adapters.storage.options import StorageOptions


class LocalBackend:
    """Files on this machine."""

    scheme = "file"

    def __init__(self, options: StorageOptions) -> None:
        self._options = options

    @cached_property
    def _filesystem(self) -> fs.LocalFileSystem:
        return fs.LocalFileSystem()

    def filesystem(self) -> fs.FileSystem:
        return self._filesystem

    def fs_path(self, uri: str) -> str:
        parsed = urlparse(uri)
        return str(Path(unquote(parsed.path))) if parsed.scheme == "file" else uri

    def iceberg_properties(self) -> dict[str, str]:
        return {}

    def delta_options(self) -> dict[str, str] | None:
        return None

    def polars_options(self) -> dict[str, str] | None:
        return None

    def duckdb_secret(self, name: str, scope: str) -> str | None:
        return None
