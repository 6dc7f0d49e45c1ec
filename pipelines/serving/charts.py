"""Small charts as inline SVG, rendered on the server: no script, no stylesheet, nothing fetched (works offline).

Each function returns one `<figure>` with a caption and an `<svg role="img">` whose marks carry a
`<title>` (the browser shows it on hover) and `data-*` values a test or a script can read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 360, 110, 24
OK, BAD, WARN, INK, MUTED = "#1a7f37", "#cf222e", "#9a6700", "#24292f", "#8c959f"


@dataclass(frozen=True)
class Cell:
    """One check's result in one run."""

    passed: bool
    severity: str
    observed: float | None


def _figure(figure_id: str, title: str, label: str, body: str, height: int = HEIGHT) -> str:
    return (
        f'<figure class="chart" id="{escape(figure_id)}"><figcaption>{escape(title)}</figcaption>'
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">{body}</svg></figure>'
    )


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _empty(figure_id: str, title: str, note: str) -> str:
    text = f'<text x="{PAD}" y="{HEIGHT // 2}" fill="{MUTED}" font-size="12">{escape(note)}</text>'
    return _figure(figure_id, title, note, text)


def _x(i: int, n: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (i / (n - 1) if n > 1 else 0.5)


def _y(value: float, top: float) -> float:
    return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value / top if top else 0)


def line_chart(figure_id: str, title: str, points: Sequence[tuple[datetime, float]], unit: str) -> str:
    """Values over time, one point per observation, evenly spaced in order (the time is in each point's title)."""
    if not points:
        return _empty(figure_id, title, "nothing recorded yet")
    top = max(v for _, v in points) or 1.0
    xy = [(_x(i, len(points)), _y(v, top)) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    marks = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{INK}" data-value="{v:g}">'
        f"<title>{escape(_when(at))}: {v:,.0f} {escape(unit)}</title></circle>"
        for (x, y), (at, v) in zip(xy, points, strict=True)
    )
    axis = (
        f'<text x="2" y="{PAD - 8}" fill="{MUTED}" font-size="10">{top:,.0f} {escape(unit)}</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="{MUTED}"/>'
        f'<text x="{PAD}" y="{HEIGHT - 6}" fill="{MUTED}" font-size="10">{escape(_when(points[0][0]))}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 6}" fill="{MUTED}" font-size="10" text-anchor="end">'
        f"{escape(_when(points[-1][0]))}</text>"
    )
    label = f"{title}: {len(points)} points, last {points[-1][1]:,.0f} {unit}"
    return _figure(figure_id, title, label, f'{axis}<polyline points="{path}" fill="none" stroke="{INK}"/>{marks}')


def bar_chart(
    figure_id: str, title: str, bars: Sequence[tuple[datetime, float]], limit: float | None, unit: str
) -> str:
    """One bar per observation; bars over `limit` (drawn as a dashed line) are red."""
    if not bars:
        return _empty(figure_id, title, "nothing recorded yet")
    top = max([v for _, v in bars] + [limit or 0]) or 1.0
    step = (WIDTH - 2 * PAD) / len(bars)
    marks = []
    for i, (at, value) in enumerate(bars):
        over = limit is not None and value > limit
        y = _y(value, top)
        marks.append(
            f'<rect x="{PAD + i * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{HEIGHT - PAD - y:.1f}" fill="{BAD if over else OK}" data-value="{value:.2f}" '
            f'data-over="{str(over).lower()}"><title>{escape(_when(at))}: {value:.2f} {escape(unit)}</title></rect>'
        )
    line = ""
    if limit is not None:
        y = _y(limit, top)
        line = (
            f'<line class="limit" x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" stroke="{BAD}" '
            f'stroke-dasharray="4 3"/><text x="{WIDTH - PAD}" y="{y - 3:.1f}" fill="{BAD}" font-size="10" '
            f'text-anchor="end">SLA {limit:g} {escape(unit)}</text>'
        )
    late = sum(1 for _, v in bars if limit is not None and v > limit)
    label = f"{title}: {len(bars)} bars, {late} over the limit"
    return _figure(figure_id, title, label, "".join(marks) + line)


def check_grid(
    figure_id: str,
    title: str,
    runs: Sequence[tuple[str, datetime]],
    checks: Sequence[str],
    cells: Mapping[tuple[str, str], Cell],
) -> str:
    """A row per check, a column per run (oldest left): green passed, red failed (error), amber failed (warn)."""
    if not runs or not checks:
        return _empty(figure_id, title, "no check has run yet")
    label_width, size = 150, 12
    height = PAD + len(checks) * (size + 4)
    marks = []
    for row, check in enumerate(checks):
        y = 8 + row * (size + 4)
        marks.append(f'<text x="0" y="{y + size - 2}" fill="{INK}" font-size="11">{escape(check[:24])}</text>')
        for column, (run, at) in enumerate(runs):
            cell = cells.get((check, run))
            if cell is None:
                continue
            colour = OK if cell.passed else BAD if cell.severity == "error" else WARN
            verdict = "passed" if cell.passed else f"failed ({cell.severity})"
            observed = "" if cell.observed is None else f", {cell.observed:g} failing rows"
            marks.append(
                f'<rect x="{label_width + column * (size + 2)}" y="{y}" width="{size}" height="{size}" '
                f'fill="{colour}" data-check="{escape(check)}" data-run="{escape(run)}" '
                f'data-passed="{str(cell.passed).lower()}"><title>{escape(check)} · {escape(_when(at))} · '
                f"run {escape(run[:8])}: {verdict}{observed}</title></rect>"
            )
    failed = sum(1 for c in cells.values() if not c.passed)
    label = f"{title}: {len(checks)} checks over {len(runs)} runs, {failed} failed"
    return _figure(figure_id, title, label, "".join(marks), height)
