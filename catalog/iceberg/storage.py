"""The storage settings `loadTable` hands a client, so it reads (or writes) the table's files without configuring them.

The catalog knows nothing of storage backends: the wiring gives it the FileIO properties (pyiceberg's
names, which DuckDB, Spark and Trino read too: `s3.endpoint`, `s3.region`, `s3.access-key-id`, ...).
Endpoint, region and addressing style go to every caller. Credentials are never the warehouse's own:
a namespace's owner gets the key configured for it (one that writes only under its domain's tables),
every other principal the read-only key; where none is configured, none is given and the client
brings its own (a vended key would override it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class VendedStorage:
    """FileIO properties returned in each table's `config`.

    Attributes:
        common: what every caller may know (endpoint, region, path style).
        reader: a read-only key's properties, for principals reading another domain's tables.
        writers: by principal, the properties of a key limited to that principal's own domain's tables.
    """

    common: Mapping[str, str] = field(default_factory=dict)
    reader: Mapping[str, str] = field(default_factory=dict, repr=False)
    writers: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)

    def config(self, principal: str, owner: bool) -> dict[str, str]:
        """The table config for `principal`, who owns the table's namespace (`owner`) or only reads it."""
        return {**self.common, **(self.writers.get(principal, {}) if owner else self.reader)}
