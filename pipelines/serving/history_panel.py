"""The catalog product page's history, drawn from the domain's event log: rows and freshness over time, checks.

Plugged into the catalog service under the entry-point group `meshlake.catalog.panels` (the catalog
imports nothing of the pipelines): a panel is a function from a product's name to HTML.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from pipelines.bootstrap import Runtime
from pipelines.core.event_log import EventKind
from pipelines.core.names import Layer
from pipelines.services.event_log import read_events
from pipelines.serving.charts import Cell, bar_chart, check_grid, line_chart
from pipelines.settings import Settings

POINTS = 60
"""Publishes drawn at most (the latest)."""
RUNS = 15
"""Runs of the check history drawn at most (the latest)."""


def _now() -> datetime:
    return datetime.now(UTC)


class ProductHistory:
    """Renders a product's history from its domain's event log.

    Args:
        runtime: the domains and their stores.
        clock: now, for the age of the last version.
    """

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = _now) -> None:
        self.runtime = runtime
        self.clock = clock

    def __call__(self, product: str) -> str:
        """The history panel of `<domain>.<product>`; empty when no local domain declares it."""
        domain, _, name = product.partition(".")
        if domain not in self.runtime.domains or name not in self.runtime.domain(domain).spec.products:
            return ""
        rows = read_events(
            self.runtime.store_for(domain, Layer.EVENT_LOG),
            self.runtime.domain(domain).event_log_table(),
            kinds=[EventKind.PUBLISH, EventKind.EXPECTATION],
            tables=[product],
        )
        sla_hours = self.runtime.domain(domain).spec.products[name].freshness_hours
        return (
            '<section id="history"><h2>History</h2><p class="muted">From the '
            f'<code>{domain}.event_log</code> table.</p><div class="charts">'
            f"{self._rows(rows)}{self._freshness(rows, sla_hours)}{self._checks(rows)}</div></section>"
        )

    @staticmethod
    def _published(rows: pa.Table) -> list[dict[str, Any]]:
        new = [
            r
            for r in rows.to_pylist()
            if r["kind"] == EventKind.PUBLISH and json.loads(r["detail"] or "{}").get("new_version", True)
        ]
        return new[-POINTS:]

    def _rows(self, rows: pa.Table) -> str:
        points = [(r["happened_at"], float(r["rows"])) for r in self._published(rows) if r["rows"] is not None]
        return line_chart("history-rows", "Rows per published version", points, "rows")

    def _freshness(self, rows: pa.Table, sla_hours: float) -> str:
        """The age of the data just before each new version, and now: the gaps between publishes."""
        times = [r["happened_at"] for r in self._published(rows)]
        bars = [(later, (later - earlier) / timedelta(hours=1)) for earlier, later in itertools.pairwise(times)]
        if times:
            now = self.clock()
            bars.append((now, (now - times[-1]) / timedelta(hours=1)))
        return bar_chart("history-freshness", "Hours since the previous version (last: now)", bars, sla_hours, "h")

    @staticmethod
    def _checks(rows: pa.Table) -> str:
        results = [r for r in rows.to_pylist() if r["kind"] == EventKind.EXPECTATION]
        runs: dict[str, datetime] = {}
        for r in results:
            runs.setdefault(r["run_id"], r["happened_at"])
        shown = list(runs.items())[-RUNS:]
        checks = sorted({r["check_name"] for r in results})
        cells = {(r["check_name"], r["run_id"]): Cell(r["passed"], r["severity"], r["observed"]) for r in results}
        return check_grid("history-checks", "Checks per run (latest right)", shown, checks, cells)


def panel_from_env() -> Callable[[str], str]:
    """The history panel on `Settings.load()`, its runtime built at the first page: the catalog's hook."""

    @functools.cache
    def history() -> ProductHistory:
        return ProductHistory(Runtime(Settings.load()))

    return lambda product: history()(product)
