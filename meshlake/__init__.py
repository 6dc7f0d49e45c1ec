"""meshlake's public Python API: query data products with DuckDB (`connect`, `query`) or Polars (`scan`).

import meshlake
con = meshlake.connect(principal="marketing")
con.sql("SELECT country, sum(revenue) FROM orders.daily_revenue GROUP BY 1").show()
frame = meshlake.scan("orders.daily_revenue", as_of="2026-05-01T00:00:00Z").collect()
"""

from pipelines.serving import (
    AsOf,
    ProductInfo,
    QueryError,
    QueryPermissionError,
    QueryRefusedError,
    QueryResult,
    QueryTimeoutError,
    Serving,
    connect,
    products,
    query,
    scan,
)

__all__ = [
    "AsOf",
    "ProductInfo",
    "QueryError",
    "QueryPermissionError",
    "QueryRefusedError",
    "QueryResult",
    "QueryTimeoutError",
    "Serving",
    "connect",
    "products",
    "query",
    "scan",
]
