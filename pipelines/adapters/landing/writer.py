"""Write landing files atomically: a hidden partial file, then a rename to the final name."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pipelines.adapters.landing.compression import SUFFIXES, compress
from pipelines.core.framing import frame


def write_landing_file(
    root: Path, domain: str, event: str, name: str, payloads: Iterable[bytes], suffix: str = ".pb"
) -> Path:
    """Write one complete landing file and return its path.

    Args:
        root: the landing root (`$MESHLAKE_HOME/landing`).
        domain: the domain folder.
        event: the event folder.
        name: the file name without suffix; must be unique within the event folder.
        payloads: serialized protobuf messages.
        suffix: `.pb`, `.pb.gz` or `.pb.zst`.
    """
    if suffix not in SUFFIXES:
        raise ValueError(f"landing file suffix {suffix!r} is not one of {', '.join(SUFFIXES)}")
    folder = root / domain / event
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}{suffix}"
    partial = folder / f".{name}{suffix}.partial"
    with open(partial, "wb") as out:
        out.write(compress(frame(payloads), suffix))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, final)
    return final
