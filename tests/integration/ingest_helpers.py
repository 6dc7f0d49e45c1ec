"""Shared by the ingestion tests: an orders domain of one event type, a runtime on tmp_path."""

from __future__ import annotations

from pathlib import Path

from pipelines.bootstrap import Runtime
from pipelines.core.domain import Domain
from pipelines.core.spec import DomainSpec
from pipelines.settings import Settings
from tests.paths import MESH

ORDER_PLACED = "meshlake.orders.v1.OrderPlaced"


def orders_domain(on_unframed: str = "fail") -> Domain:
    """The orders domain reduced to its bronze part, independent of domains/orders' silver and gold."""
    spec = DomainSpec.model_validate(
        {
            "name": "orders",
            "owner": "team-orders",
            "schemas": "orders/v1",
            "events": {"order_placed": {"message": ORDER_PLACED}},
            "on_unframed": on_unframed,
        }
    )
    return Domain(spec=spec, transforms={})


def orders_runtime(home: Path, fmt: str, schemas: Path | None = None, on_unframed: str = "fail") -> Runtime:
    """A runtime on `home` with every table in `fmt`, the orders domain and `schemas` (default: the project's)."""
    env = {"MESHLAKE_HOME": str(home), "MESHLAKE_FORMAT": fmt}
    if schemas is not None:
        env["MESHLAKE_SCHEMAS"] = str(schemas)
    return Runtime(Settings.load(project=MESH, env=env), domains=[orders_domain(on_unframed)])
