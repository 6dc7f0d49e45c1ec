"""Where files live, chosen by URI: a local folder (a path or `file://`) or an object store (`s3://`).

`open_location(uri, options)` returns a `Location`; each scheme is a backend module of this package
(`local`, `s3`), imported only when used, that knows how to hand the location to every library
(pyarrow filesystem, pyiceberg FileIO properties, deltalake storage options, Polars and DuckDB).
A new store (GCS, Azure) is a new module here and a line in `location._BACKENDS`.
"""

from pipelines.adapters.storage.location import (
    Backend,
    Location,
    StorageError,
    StoredFile,
    as_location,
    open_location,
)
from pipelines.adapters.storage.options import S3Options, StorageOptions

__all__ = [
    "Backend",
    "Location",
    "S3Options",
    "StorageError",
    "StorageOptions",
    "StoredFile",
    "as_location",
    "open_location",
]
