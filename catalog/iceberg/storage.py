"""The storage settings `loadTable` hands a client, so it reads (or writes) the table's files without configuring them.

The catalog knows nothing of storage backends: the wiring gives it the FileIO properties (pyiceberg's
names, which DuckDB, Spark and Trino read too: `s3.endpoint`, `s3.region`, `s3.access-key-id`, ...).
Endpoint, region and addressing style go to every caller; a namespace's own domain (and an admin)
gets the writer's credentials, every other principal the read-only ones (none configured: none given,
and the client brings its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class VendedStorage:
    """FileIO properties returned in each table's `config`.

    Attributes:
        common: what every caller may know (endpoint, region, path style).
        writer: credentials of the namespace's owner (they commit new files).
        reader: read-only credentials for everyone else.
    """

    common: Mapping[str, str] = field(default_factory=dict)
    writer: Mapping[str, str] = field(default_factory=dict, repr=False)
    reader: Mapping[str, str] = field(default_factory=dict, repr=False)

    def config(self, owner: bool) -> dict[str, str]:
        """The table config for a caller who owns the namespace (`owner`) or only reads it."""
        return {**self.common, **(self.writer if owner else self.reader)}
