"""Server-rendered SVG charts: pure functions, no Django, no I/O, no script, no CDN.

Every chart is an `<svg role="img">` with a `<title>` and `<desc>`, each mark has its own
`<title>` (the value, as a tooltip and for screen readers), and the page shows the same
figures as a table. Colours come from classes (`series-0`, ...) styled by the dashboard's
stylesheet, so the markup needs no inline style (the production CSP allows none).
Every text is escaped here; `Svg` tells Django's templates it already is.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 30, 36
MAX_X_LABELS = 8


class Svg(str):
    """Markup built by this module from escaped parts: safe to put in a template as is."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about `ticks` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop always returns


def _axis_max(maximum: float) -> tuple[float, float]:
    step = nice_step(maximum)
    return max(step, math.ceil(maximum / step) * step), step


def _frame(title: str, description: str, body: list[str], ident: str) -> Svg:
    return Svg(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _y_axis(top_value: float, step: float, fmt: Callable[[float], str]) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    ticks = round(top_value / step)
    for i in range(ticks + 1):
        value = i * step
        y = TOP + plot_h - plot_h * value / top_value
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(value))}</text>"
        )
    return parts


def _x_labels(labels: Sequence[str], band: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    parts = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + band * (i + 0.5)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    if len(series) < 2:
        return []
    parts, x = [], LEFT
    for k, s in enumerate(series):
        parts.append(
            f'<rect class="series-{k}" x="{x}" y="6" width="12" height="12"/>'
            f'<text class="legend" x="{x + 16}" y="16">{escape(s.name)}</text>'
        )
        x += 16 + 7 * len(s.name) + 24
    return parts


def _no_data(title: str, description: str, ident: str) -> Svg:
    return _frame(
        title,
        description,
        [
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "No data for these filters</text>"
        ],
        ident,
    )


def bar_chart(
    *,
    ident: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
) -> Svg:
    """Bars per label; several series are stacked (their sum is the bar's height)."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    if not labels or not any(totals):
        return _no_data(title, description, ident)
    top_value, step = _axis_max(max(totals))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    band = plot_w / len(labels)
    bar_w = max(1.0, band * 0.8)
    body = _y_axis(top_value, step, fmt)
    for i, label in enumerate(labels):
        base = 0.0
        for k, s in enumerate(series):
            value = s.values[i] or 0
            if not value:
                continue
            h = plot_h * value / top_value
            y = TOP + plot_h - plot_h * base / top_value - h
            x = LEFT + band * i + (band - bar_w) / 2
            name = f"{s.name}: " if len(series) > 1 else ""
            body.append(
                f'<rect class="series-{k}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}"><title>{escape(f"{label}: {name}{fmt(value)}")}</title></rect>'
            )
            base += value
    body += _x_labels(labels, band) + _legend(series)
    return _frame(title, description, body, ident)


def line_chart(
    *,
    ident: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    top: float | None = None,
) -> Svg:
    """One line per series; a missing value (None) breaks the line."""
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return _no_data(title, description, ident)
    top_value, step = _axis_max(top if top is not None else max(max(values), 0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    band = plot_w / len(labels)
    body = _y_axis(top_value, step, fmt)
    for k, s in enumerate(series):
        segment: list[str] = []
        segments = [segment]
        marks = []
        for i, value in enumerate(s.values):
            if value is None:
                segment = []
                segments.append(segment)
                continue
            x = LEFT + band * (i + 0.5)
            y = TOP + plot_h - plot_h * min(value, top_value) / top_value
            segment.append(f"{x:.1f},{y:.1f}")
            label = f"{labels[i]}: {s.name} {fmt(value)}"
            marks.append(
                f'<circle class="mark series-{k}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(label)}</title></circle>"
            )
        body += [
            f'<polyline class="line series-{k}" points="{" ".join(seg)}"/>'
            for seg in segments
            if len(seg) > 1
        ]
        body += marks
    body += _x_labels(labels, band) + _legend(series)
    return _frame(title, description, body, ident)


def hbar_chart(
    *,
    ident: str,
    title: str,
    description: str,
    items: Sequence[tuple[str, float]],
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    label_chars: int = 48,
) -> Svg:
    """Horizontal bars, one per (label, value), largest first as given."""
    if not items:
        return _no_data(title, description, ident)
    row_h = 22
    top = 8
    height = top + row_h * len(items) + 8
    label_w = 300
    plot_w = WIDTH - label_w - RIGHT - 48
    top_value = max(v for _, v in items) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = top + row_h * i
        w = max(1.0, plot_w * value / top_value)
        short = label if len(label) <= label_chars else label[: label_chars - 1] + "…"
        body.append(
            f'<text class="tick" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(short)}</text>"
            f'<rect class="series-0" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="16">'
            f"<title>{escape(f'{label}: {fmt(value)}')}</title></rect>"
            f'<text class="tick" x="{label_w + w + 6:.1f}" y="{y + 15}">{escape(fmt(value))}</text>'
        )
    svg = _frame(title, description, body, ident)
    return Svg(svg.replace(f'viewBox="0 0 {WIDTH} {HEIGHT}"', f'viewBox="0 0 {WIDTH} {height}"', 1))
