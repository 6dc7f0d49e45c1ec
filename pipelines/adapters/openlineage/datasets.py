"""What an OpenLineage event says about a run and its datasets, before it is one: plain values.

The Dagster wiring fills these in; `emitter` turns them into openlineage-python's event classes. A
dataset is named by its table location, following OpenLineage's naming of file systems and object
stores: a local folder is namespace `file` and its absolute path; `s3://bucket/key` is namespace
`s3://bucket` and name `key`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyarrow as pa


def dataset_name(location: str) -> tuple[str, str]:
    """The OpenLineage `(namespace, name)` of a table location (a folder, `file://…` or `scheme://bucket/key`).

    An Iceberg table's location is its current metadata file (`<root>/metadata/<n>.metadata.json`): the
    dataset is the table's root, the same across versions.
    """
    head, _, last = location.rstrip("/").rpartition("/")
    if last.endswith(".metadata.json") and head.endswith("/metadata"):
        location = head.removesuffix("/metadata")
    if "://" not in location:
        return "file", location
    parts = urlsplit(location)
    if parts.scheme == "file":
        return "file", parts.path
    netloc = parts.netloc.rpartition("@")[2]  # never a password in a dataset name
    return f"{parts.scheme}://{netloc}", parts.path.lstrip("/") or "/"


@dataclass(frozen=True)
class Assertion:
    """One expectation's result on a dataset (OpenLineage's data-quality assertion)."""

    name: str
    passed: bool
    severity: str
    column: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class DatasetRef:
    """A table a run reads or writes: its location, and what is known of it at the time of the event.

    `columns` is column lineage: each column of this (output) dataset and the `(location, column)`
    of the input columns it is computed from.
    """

    location: str
    schema: pa.Schema | None = None
    version: str | None = None
    rows: int | None = None
    columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    assertions: list[Assertion] = field(default_factory=list)


@dataclass(frozen=True)
class JobRef:
    """The job of an asset (or op) run and the run it belongs to (the Dagster run: the parent of the asset's run)."""

    namespace: str
    name: str
    description: str
    owner: str
    parent_run_id: str
    parent_job: str
    job_type: str = "ASSET"
    """The job type facet's `jobType`: `ASSET`, or `TASK` for an op such as a domain's maintenance."""
