"""A planned product scan as a Polars LazyFrame, read by Polars' own Parquet reader where possible."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from pipelines.ports.query_engine import ProductScan


def lazy_frame(scan: ProductScan) -> pl.LazyFrame:
    """A LazyFrame over one product version, with exactly the served columns.

    When the planned data files hold every row (`scan.exact`), Polars scans them itself: projection,
    predicates and row-group statistics are used, columns added to the table later read as nulls.
    Otherwise (partition values in the log, delete files) the scan's Arrow dataset is handed over, with
    predicates pushed into pyarrow.
    """
    empty = pl.from_arrow(scan.schema.empty_table())
    assert isinstance(empty, pl.DataFrame)
    schema = empty.schema
    if scan.exact and scan.files:
        options = scan.storage.polars_options() if scan.storage else None
        frame = pl.scan_parquet(
            list(scan.files), schema=schema, missing_columns="insert", extra_columns="ignore", storage_options=options
        )
        return frame.select(scan.schema.names)
    source = scan.arrow()
    if isinstance(source, ds.Dataset):
        return pl.scan_pyarrow_dataset(source).select(scan.schema.names)
    if isinstance(source, pa.Table):
        data = pl.from_arrow(source)
        assert isinstance(data, pl.DataFrame)
        return data.lazy().select(scan.schema.names)
    raise TypeError(f"{scan.product}: cannot read a {type(source).__name__} with Polars")
