"""Polars serving: data products as LazyFrames."""

from pipelines.adapters.polars.scan import lazy_frame

__all__ = ["lazy_frame"]
