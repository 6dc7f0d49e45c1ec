"""Landing files: varint length-delimited protobuf streams under `<landing root>/<domain>/<event>/`.

Convention: a file is complete once it has its final name. On a local disk producers write
`.<name>.partial` (hidden) and rename it when done; names starting with `.` or ending in `.partial`
are never read. On an object store an object is complete once it exists (a PUT is atomic), so
producers write the final name directly. Recognised names: `*.pb`, `*.pb.gz`, `*.pb.zst`.
"""

from pipelines.adapters.landing.event_source import LandingFileSource
from pipelines.adapters.landing.files import LandingFile
from pipelines.adapters.landing.writer import write_landing_file

__all__ = ["LandingFile", "LandingFileSource", "write_landing_file"]
