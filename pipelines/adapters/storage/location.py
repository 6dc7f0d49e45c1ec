"""Location: a root URI on one storage backend, and the file operations meshlake needs on it."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import pyarrow as pa
from pyarrow import fs

from pipelines.adapters.storage.options import StorageOptions


class StorageError(Exception):
    """A location cannot be reached or used (missing bucket, refused credentials, no endpoint); names the URI."""


class Backend(Protocol):
    """One storage kind (a URI scheme): its filesystem and the options each library takes."""

    scheme: str

    def filesystem(self) -> fs.FileSystem:
        """The pyarrow filesystem of this backend (paths without the scheme)."""
        ...

    def fs_path(self, uri: str) -> str:
        """The path `filesystem()` takes for `uri`."""
        ...

    def iceberg_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties (`s3.endpoint`, ...)."""
        ...

    def delta_options(self) -> dict[str, str] | None:
        """deltalake `storage_options` (object_store keys)."""
        ...

    def polars_options(self) -> dict[str, str] | None:
        """Polars `storage_options`."""
        ...

    def duckdb_secret(self, name: str, scope: str) -> str | None:
        """A DuckDB `CREATE SECRET` statement scoped to `scope`, or None when DuckDB needs none."""
        ...


_BACKENDS: dict[str, tuple[str, str]] = {
    "file": ("pipelines.adapters.storage.local", "LocalBackend"),
    "s3": ("pipelines.adapters.storage.s3", "S3Backend"),
}


@dataclass(frozen=True)
class StoredFile:
    """A file found under a location: its URI, size and last modification (seconds since the epoch)."""

    uri: str
    size: int
    mtime: float


def _normalise(uri: str | Path) -> tuple[str, str]:
    text = str(uri)
    parsed = urlparse(text)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else text).expanduser().resolve()
        return "file", str(path)
    return parsed.scheme, text.rstrip("/")


def open_location(uri: str | Path, options: StorageOptions | None = None) -> Location:
    """The location `uri` names: a local path or `file://` URI, or `<scheme>://bucket/prefix`.

    Raises:
        ValueError: no backend for the URI's scheme (the message lists the known ones).
    """
    scheme, normalised = _normalise(uri)
    try:
        module_name, class_name = _BACKENDS[scheme]
    except KeyError:
        known = ", ".join(f"{s}://" for s in _BACKENDS)
        raise ValueError(f"{uri}: no storage for the scheme {scheme}:// (known: {known}, or a local path)") from None
    backend = getattr(importlib.import_module(module_name), class_name)(options or StorageOptions())
    return Location(normalised, backend)


def as_location(where: Location | str | Path, options: StorageOptions | None = None) -> Location:
    """`where` if it is a Location already, else the location its URI or path names."""
    return where if isinstance(where, Location) else open_location(where, options)


@dataclass(frozen=True)
class Location:
    """A folder on a storage backend.

    `uri` is what libraries are handed: an absolute path for local files, `s3://bucket/prefix` otherwise.
    """

    uri: str
    backend: Backend

    def __truediv__(self, part: str) -> Location:
        return Location(f"{self.uri}/{part.strip('/')}", self.backend)

    def __str__(self) -> str:
        return self.uri

    @property
    def is_local(self) -> bool:
        return self.backend.scheme == "file"

    @property
    def local_path(self) -> Path | None:
        """The folder on this machine's disk, or None for an object store."""
        return Path(self.uri) if self.is_local else None

    @property
    def filesystem(self) -> fs.FileSystem:
        return self.backend.filesystem()

    @property
    def path(self) -> str:
        """The path of this location in `filesystem`."""
        return self.backend.fs_path(self.uri)

    def at(self, uri: str) -> Location:
        """The location `uri` names on this same backend (with the same options)."""
        scheme, normalised = _normalise(uri)
        if scheme != self.backend.scheme:
            raise ValueError(f"{uri} is not on the {self.backend.scheme}:// storage of {self.uri}")
        return Location(normalised, self.backend)

    def as_uri(self) -> str:
        """A URI for libraries that want one (`file:///...` for local files)."""
        return Path(self.uri).as_uri() if self.is_local else self.uri

    def child_uri(self, relative: str) -> str:
        """The URI of a file below this location (`relative` uses `/`)."""
        return f"{self.uri}/{relative.lstrip('/')}"

    def fs_path(self, uri: str) -> str:
        """The `filesystem` path of a URI on this backend (a local `file://` URI or path, or `s3://...`)."""
        return self.backend.fs_path(uri)

    def iceberg_properties(self) -> dict[str, str]:
        return self.backend.iceberg_properties()

    def delta_options(self) -> dict[str, str] | None:
        return self.backend.delta_options()

    def polars_options(self) -> dict[str, str] | None:
        return self.backend.polars_options()

    def duckdb_secret(self, name: str) -> str | None:
        """A DuckDB secret scoped to this location, or None for local files."""
        return self.backend.duckdb_secret(name, self.uri)

    @contextmanager
    def errors(self, what: str = "") -> Iterator[None]:
        """Turn the filesystem's `OSError` into a `StorageError` naming this location."""
        try:
            yield
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, FileNotFoundError) and self.is_local:
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"{self.uri}: {what + ': ' if what else ''}{reason}") from exc

    def check(self) -> None:
        """Reach the location once: a local folder is created, an object store's bucket must exist.

        Raises:
            StorageError: the store is unreachable, refuses the credentials, or the bucket is missing.
        """
        if self.is_local:
            Path(self.uri).mkdir(parents=True, exist_ok=True)
            return
        bucket = self.path.split("/", 1)[0]
        with self.errors("cannot reach the store"):
            info = self.filesystem.get_file_info(bucket)
        if info.type != fs.FileType.Directory:
            raise StorageError(f"{self.uri}: the bucket {bucket!r} does not exist")

    def exists(self, relative: str = "") -> bool:
        path = self.fs_path(self.child_uri(relative)) if relative else self.path
        with self.errors():
            return bool(self.filesystem.get_file_info(path).type != fs.FileType.NotFound)

    def list_files(self, relative: str = "", recursive: bool = True) -> list[StoredFile]:
        """The files below this location (or below `relative`), sorted by URI; none when it does not exist."""
        base = self.child_uri(relative) if relative else self.uri
        selector = fs.FileSelector(self.fs_path(base), allow_not_found=True, recursive=recursive)
        with self.errors():
            infos = self.filesystem.get_file_info(selector)
        root_path = self.fs_path(base)
        found = []
        for info in infos:
            if info.type != fs.FileType.File:
                continue
            name = info.path[len(root_path) :].lstrip("/")
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            found.append(StoredFile(f"{base}/{name}", int(info.size or 0), mtime))
        return sorted(found, key=lambda f: f.uri)

    def delete_files(self, uris: list[str]) -> None:
        """Delete files (URIs on this backend); a missing file is no error."""
        filesystem = self.filesystem
        for uri in uris:
            with contextlib.suppress(FileNotFoundError):
                filesystem.delete_file(self.fs_path(uri))

    def delete_tree(self) -> None:
        """Delete this folder and everything below it; a missing folder is no error."""
        with self.errors("cannot delete"):
            if self.exists():
                self.filesystem.delete_dir(self.path)

    def open_output(self, uri: str) -> pa.NativeFile:
        """A stream writing the file `uri` (parent folders created on a local disk); complete once closed."""
        path = self.fs_path(uri)
        if self.is_local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self.errors("cannot write"):
            return self.filesystem.open_output_stream(path, compression=None)

    def read_bytes(self, relative: str) -> bytes:
        with self.filesystem.open_input_stream(self.fs_path(self.child_uri(relative)), compression=None) as stream:
            return bytes(stream.read())

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a whole file (an object store's PUT is atomic; a local file is written in place)."""
        with self.filesystem.open_output_stream(self.fs_path(self.child_uri(relative)), compression=None) as stream:
            stream.write(data)
