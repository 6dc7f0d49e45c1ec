"""`--storage s3` of `meshlake demo` and `meshlake dev`: a SeaweedFS under the home, and the settings that
put the warehouse and the landing zone on it.

Beside the warehouse's own key (every action), the SeaweedFS has a read-only key and one key per domain
that reads as much and writes only its domain's tables (`<warehouse>/iceberg/<domain>/`,
`<warehouse>/delta/<domain>/`); the catalog's Iceberg REST endpoint hands those out (`s3_reader_*`,
`s3_writer_keys`), so a client with only the catalog URI and a token reads as a reader and writes its own
namespace as its domain, and each domain's Sail server works with its domain's key. All keys, the warehouse's
too, are random (no client can guess one it was not handed), made once and kept in
`<home>/seaweedfs/s3-keys.json` (readable by its owner only): a restart reuses them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.adapters.seaweedfs import S3Identity, SeaweedServer

BUCKET = "meshlake"
WAREHOUSE = f"s3://{BUCKET}/warehouse"
LANDING = f"s3://{BUCKET}/landing"
KEYS_FILE = "s3-keys.json"
READER = "reader"
WAREHOUSE_KEY = "warehouse"
FORMATS = ("iceberg", "delta")
"""The warehouse's folder of each table format: `<warehouse>/<format>/<domain>/<table>`."""


class Storage(StrEnum):
    LOCAL = "local"
    S3 = "s3"


@dataclass(frozen=True)
class LocalObjectStore:
    """The SeaweedFS `--storage s3` runs, its read-only identity and each domain's writing identity."""

    server: SeaweedServer
    reader: S3Identity
    writers: dict[str, S3Identity]

    def variables(self) -> dict[str, str]:
        """The `MESHLAKE_*` variables that put the warehouse (`s3://meshlake/warehouse`) and the landing zone
        (`s3://meshlake/landing`) on the server, with its endpoint and the warehouse's key, and the keys the
        Iceberg REST catalog vends; `AWS_EC2_METADATA_DISABLED=true`, so no AWS SDK looks for cloud credentials."""
        writers = ",".join(f"{domain}={i.access_key}:{i.secret_key}" for domain, i in self.writers.items())
        return {
            "MESHLAKE_WAREHOUSE": WAREHOUSE,
            "MESHLAKE_LANDING": LANDING,
            "MESHLAKE_S3_ENDPOINT": self.server.endpoint,
            "MESHLAKE_S3_ACCESS_KEY_ID": self.server.access_key,
            "MESHLAKE_S3_SECRET_ACCESS_KEY": self.server.secret_key,
            "MESHLAKE_S3_READER_ACCESS_KEY_ID": self.reader.access_key,
            "MESHLAKE_S3_READER_SECRET_ACCESS_KEY": self.reader.secret_key,
            "MESHLAKE_S3_WRITER_KEYS": writers,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def _keys(path: Path, names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Access key and secret by name: those kept in `path`, and new random ones (then kept) for the others."""
    import json
    import secrets

    kept: dict[str, list[str]] = json.loads(path.read_text()) if path.is_file() else {}
    missing = [name for name in names if name not in kept]
    for name in missing:
        kept[name] = [f"meshlake-{secrets.token_hex(8)}", secrets.token_urlsafe(24)]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        partial.touch(mode=0o600)  # secrets: its owner's only, from the start
        partial.write_text(json.dumps(kept, indent=2))
        partial.replace(path)
    return {name: (key, secret) for name, (key, secret) in kept.items()}


def scoped_identities(data_dir: Path, domains: Iterable[str]) -> tuple[S3Identity, dict[str, S3Identity]]:
    """The read-only identity (every object of the bucket) and, by domain, one that reads as much and writes only
    its domain's tables, `<warehouse>/iceberg/<domain>/` and `<warehouse>/delta/<domain>/`; keys kept in
    `<data_dir>/s3-keys.json`.

    A domain's key reads the whole bucket: the Sail server of the domain works with it, and a gold product reads
    other domains' products (Delta at their locations, Iceberg's files once the catalog has granted the table)."""
    from pipelines.adapters.seaweedfs import S3Identity

    domains = sorted(domains)
    keys = _keys(data_dir / KEYS_FILE, [READER, *(f"domain:{d}" for d in domains)])
    reading = (f"Read:{BUCKET}", f"List:{BUCKET}")
    reader = S3Identity(READER, *keys[READER], reading)
    warehouse = WAREHOUSE.removeprefix("s3://")
    writers = {
        d: S3Identity(
            f"domain-{d}", *keys[f"domain:{d}"], (*reading, *(f"Write:{warehouse}/{fmt}/{d}/*" for fmt in FORMATS))
        )
        for d in domains
    }
    return reader, writers


@contextmanager
def local_object_store(home: Path, domains: Iterable[str] = (), weed: str | None = None) -> Iterator[LocalObjectStore]:
    """Run SeaweedFS (`weed`, the setting, else as `find_weed` finds it) with its data in `<home>/seaweedfs`
    (kept between runs) on free loopback ports, with a read-only key and a key for each of `domains`."""
    from pipelines.adapters.seaweedfs import SeaweedServer

    data_dir = home / "seaweedfs"
    reader, writers = scoped_identities(data_dir, domains)
    key, secret = _keys(data_dir / KEYS_FILE, [WAREHOUSE_KEY])[WAREHOUSE_KEY]
    identities = (reader, *writers.values())
    with SeaweedServer(data_dir, (BUCKET,), key, secret, identities, executable=weed) as server:
        yield LocalObjectStore(server, reader, writers)
