"""Landing files: varint length-delimited protobuf streams under `<landing root>/<domain>/<event>/`.

Convention: a file is visible once it has its final name. On a local disk producers write
`.<name>.partial` (hidden) and rename it when done; names starting with `.` or ending in `.partial`
are never read. On an object store an object is complete once it exists (a PUT is atomic), so
producers write the final name directly. A plain `.pb` file may then still grow by appended
frames (its last frame may be cut short while it is being written); a compressed one is complete.
Recognised names: `*.pb`, `*.pb.gz`, `*.pb.zst`.
"""

from pipelines.adapters.landing.event_source import LandingFileSource
from pipelines.adapters.landing.files import LandingFile
from pipelines.adapters.landing.writer import write_landing_file

__all__ = ["LandingFile", "LandingFileSource", "write_landing_file"]
