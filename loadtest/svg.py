"""Charts as inline SVG strings: the report needs no script, no font and no network to render.

Hovering a point or a bar shows its value (an SVG `<title>`), which every browser supports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 34
PALETTE = [
    "#2563eb",
    "#d97706",
    "#059669",
    "#7c3aed",
    "#db2777",
    "#0891b2",
    "#65a30d",
    "#9333ea",
    "#ea580c",
    "#0d9488",
    "#4f46e5",
    "#be123c",
]


@dataclass(frozen=True)
class Line:
    name: str
    points: Sequence[tuple[float, float | None]]
    """(x, y); a None y leaves a gap."""
    color: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _frame(
    x_ticks: list[float], y_ticks: list[float], sx: Scale, sy: Scale, x_label: str, y_label: str
) -> list[str]:
    parts = []
    for y in y_ticks:
        py = sy(y)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end">{_number(y)}</text>')
    for x in x_ticks:
        px = sx(x)
        parts.append(
            f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{_number(x)}</text>"
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" '
        f'y2="{HEIGHT - BOTTOM}" class="axis"/>'
    )
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 4}" text-anchor="middle" '
        f'class="label">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
        f'class="label" transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2})">'
        f"{escape(y_label)}</text>"
    )
    return parts


class Scale:
    def __init__(self, low: float, high: float, out_low: float, out_high: float) -> None:
        self.low, self.span = low, (high - low) or 1.0
        self.out_low, self.out_span = out_low, out_high - out_low

    def __call__(self, value: float) -> float:
        return self.out_low + (value - self.low) / self.span * self.out_span


def line_chart(lines: Sequence[Line], *, x_label: str, y_label: str, title: str) -> str:
    xs = [x for line in lines for x, _ in line.points]
    ys = [y for line in lines for _, y in line.points if y is not None]
    if not xs or not ys:
        return _empty(title)
    x_ticks = nice_ticks(min(xs), max(xs) or 1)
    y_ticks = nice_ticks(0, max(ys) or 1)
    sx = Scale(x_ticks[0], x_ticks[-1], LEFT, WIDTH - RIGHT)
    sy = Scale(0, y_ticks[-1], HEIGHT - BOTTOM, TOP)
    parts = _frame(x_ticks, y_ticks, sx, sy, x_label, y_label)
    for line in lines:
        segment: list[str] = []
        for x, y in [*line.points, (0.0, None)]:
            if y is None:
                if len(segment) > 1:
                    parts.append(
                        f'<polyline points="{" ".join(segment)}" fill="none" '
                        f'stroke="{line.color}" stroke-width="1.8"/>'
                    )
                segment = []
                continue
            segment.append(f"{sx(x):.1f},{sy(y):.1f}")
        for x, y in line.points:
            if y is not None:
                parts.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.4" '
                    f'fill="{line.color}"><title>{escape(line.name)} at {_number(x)} '
                    f"{escape(x_label)}: {_number(y)} {escape(y_label)}</title></circle>"
                )
    legend = "".join(
        f'<span class="key"><i style="background:{line.color}"></i>{escape(line.name)}</span>'
        for line in lines
    )
    return _figure(title, parts, legend)


def histogram_chart(bins: Sequence[dict[str, float]], *, title: str, color: str) -> str:
    """Bars of log-spaced latency buckets; the x labels are the bucket edges in ms."""
    if not bins:
        return _empty(title)
    top = max(b["count"] for b in bins) or 1
    y_ticks = nice_ticks(0, top)
    sy = Scale(0, y_ticks[-1], HEIGHT - BOTTOM, TOP)
    slot = (WIDTH - LEFT - RIGHT) / len(bins)
    parts = _frame([], y_ticks, Scale(0, 1, LEFT, WIDTH - RIGHT), sy, "latency (ms)", "count")
    every = max(1, len(bins) // 6)
    for i, bucket in enumerate(bins):
        x = LEFT + i * slot
        y = sy(bucket["count"])
        label = (
            f"{_number(bucket['from_ms'])} to {_number(bucket['to_ms'])} ms: {bucket['count']:,.0f}"
        )
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{color}">'
            f"<title>{escape(label)}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="start">'
                f"{_number(bucket['from_ms'])}</text>"
            )
    return _figure(title, parts, "")


def _figure(title: str, parts: list[str], legend: str) -> str:
    body = "".join(parts)
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">{body}</svg>'
        f'<div class="legend">{legend}</div></figure>'
    )


def _empty(title: str) -> str:
    return (
        f'<figure><figcaption>{escape(title)}</figcaption><p class="none">no samples</p></figure>'
    )
