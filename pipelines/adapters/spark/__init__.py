"""The Spark Connect engine: Sail started on 127.0.0.1 or any Spark Connect server (`engine: spark`)."""

from pipelines.adapters.spark.engine import SparkEngine
from pipelines.adapters.spark.server import SailServer, SailStartError, catalog_environment

__all__ = ["SailServer", "SailStartError", "SparkEngine", "catalog_environment"]
