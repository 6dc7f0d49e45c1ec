"""The product page's charts: inline SVG that shows what it is given, escaped, and says when there is nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from pipelines.serving.charts import Cell, bar_chart, check_grid, line_chart

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def test_a_line_has_a_point_per_value_with_its_time_and_value() -> None:
    figure = ElementTree.fromstring(line_chart("rows", "Rows", [(T0, 10), (T0 + timedelta(hours=1), 25)], "rows"))
    points = figure.findall(f".//{SVG}circle")
    assert [p.get("data-value") for p in points] == ["10", "25"]
    title, svg = points[1].find(f"{SVG}title"), figure.find(f"{SVG}svg")
    assert title is not None and svg is not None
    assert title.text == "2026-12-06 13:00 UTC: 25 rows"
    assert svg.get("aria-label") == "Rows: 2 points, last 25 rows"


def test_bars_over_the_limit_are_flagged() -> None:
    bars = [(T0, 0.5), (T0 + timedelta(hours=3), 3.0)]
    figure = ElementTree.fromstring(bar_chart("fresh", "Hours", bars, 2, "h"))
    assert [r.get("data-over") for r in figure.findall(f".//{SVG}rect")] == ["false", "true"]
    limit = figure.find(f".//{SVG}line")
    assert limit is not None
    assert limit.get("class") == "limit"


def test_names_are_escaped_and_nothing_yet_says_so() -> None:
    name = '<script>alert("x")</script>'
    figure = check_grid("checks", "Checks", [("run-1", T0)], [name], {(name, "run-1"): Cell(False, "warn", 3.0)})
    assert "<script>" not in figure
    cell = ElementTree.fromstring(figure).find(f".//{SVG}rect")
    assert cell is not None
    assert cell.get("data-check") == name and cell.get("data-passed") == "false"
    title = cell.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert "failed (warn), 3 failing rows" in title.text
    assert "nothing recorded yet" in line_chart("rows", "Rows", [], "rows")
    assert "no check has run yet" in check_grid("checks", "Checks", [], [], {})
