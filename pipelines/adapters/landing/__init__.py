"""Landing files: varint length-delimited protobuf streams under `landing/<domain>/<event>/`.

Convention: a file is complete once it has its final name. Producers write `.<name>.partial`
(hidden) and rename it when done; names starting with `.` or ending in `.partial` are never read.
Recognised names: `*.pb`, `*.pb.gz`, `*.pb.zst`.
"""

from pipelines.adapters.landing.event_source import LandingFileSource
from pipelines.adapters.landing.writer import write_landing_file

__all__ = ["LandingFileSource", "write_landing_file"]
