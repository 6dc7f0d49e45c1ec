"""meshlake's public Python API: query data products with DuckDB (`connect`, `query`) or Polars (`scan`).

import meshlake
con = meshlake.connect(principal="marketing")
con.sql("SELECT country, sum(revenue) FROM orders.daily_revenue GROUP BY 1").show()
frame = meshlake.scan("orders.daily_revenue", as_of="2026-05-01T00:00:00Z").collect()

The names are those of `pipelines.serving.__all__`, the one list of them.
"""

from pipelines.serving import *  # noqa: F403
from pipelines.serving import __all__ as __all__
