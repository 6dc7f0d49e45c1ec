"""Write landing files atomically: locally a hidden partial file renamed to its final name; on an object
store one PUT (an object is complete once it exists)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pipelines.adapters.landing.compression import SUFFIXES, compress
from pipelines.adapters.landing.files import LandingFile
from pipelines.adapters.storage import Location, as_location
from pipelines.core.framing import frame


def write_landing_file(
    root: Location | Path | str, domain: str, event: str, name: str, payloads: Iterable[bytes], suffix: str = ".pb"
) -> LandingFile:
    """Write one complete landing file and return it.

    Args:
        root: the landing root (`$MESHLAKE_HOME/landing`, or an object store prefix).
        domain: the domain folder.
        event: the event folder.
        name: the file name without suffix; must be unique within the event folder.
        payloads: serialized protobuf messages.
        suffix: `.pb`, `.pb.gz` or `.pb.zst`.
    """
    if suffix not in SUFFIXES:
        raise ValueError(f"landing file suffix {suffix!r} is not one of {', '.join(SUFFIXES)}")
    location = as_location(root)
    source = f"{domain}/{event}/{name}{suffix}"
    data = compress(frame(payloads), suffix)
    folder = location.local_path
    if folder is None:
        with location.errors(f"cannot write {source}"):
            location.write_bytes(source, data)
        return LandingFile(source, location.child_uri(source), len(data))
    final = folder / source
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".{final.name}.partial"
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, final)
    return LandingFile(source, str(final), len(data))
