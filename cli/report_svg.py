"""Small inline-SVG charts for ``sensory report``: bars, min-mean-max ranges, time lines.

Pure SVG strings (no plotting library), so the report is one self-contained HTML file.
"""
import math
from datetime import datetime, timezone
from html import escape
from typing import Optional, Sequence

PALETTE = ("#2b6cb0", "#38a169", "#e53e3e", "#d69e2e", "#805ad5", "#319795", "#dd6b20",
           "#718096")
FONT = "font-family='system-ui,Segoe UI,Helvetica,Arial,sans-serif' font-size='12'"
_LABEL_W = 300
_ROW_H = 22
_RIGHT = 150  # room for value labels right of the longest bar


def _number(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}"


def legend(names: Sequence[str], x: float, y: float) -> str:
    """A one-line legend of coloured squares."""
    parts, offset = [], 0.0
    for index, name in enumerate(names):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f"<rect x='{x + offset:.0f}' y='{y - 10:.0f}' width='10' height='10' "
                     f"fill='{colour}'/><text x='{x + offset + 14:.0f}' y='{y:.0f}' {FONT}>"
                     f"{escape(name)}</text>")
        offset += 24 + 7 * len(name)
    return "".join(parts)


def bar_chart(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str],
              width: int = 860) -> str:
    """Horizontal grouped bars: one group per row label, one bar per series.

    Args:
        rows: ``(label, values)`` with one value per ``series``.
        series: Names of the bars in each group (the legend).
        width: SVG width in pixels.
    """
    if not rows:
        return "<p class='empty'>No data.</p>"
    top = max((v for _, values in rows for v in values if v is not None), default=0) or 1
    bar_h = 11
    group_h = bar_h * len(series) + 8
    plot_w = width - _LABEL_W - 60
    height = 30 + group_h * len(rows)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"role='img'>", legend(series, _LABEL_W, 14)]
    for row, (label, values) in enumerate(rows):
        y0 = 24 + row * group_h
        if row % 2 == 0:
            out.append(f"<rect x='0' y='{y0 - 2}' width='{width}' height='{group_h}' "
                       f"fill='#f7fafc'/>")
        out.append(f"<text x='{_LABEL_W - 8}' y='{y0 + group_h / 2 + 1:.0f}' "
                   f"text-anchor='end' {FONT}>{escape(label)}</text>")
        for index, value in enumerate(values):
            if value is None:
                continue
            length = plot_w * value / top
            y = y0 + index * bar_h
            out.append(f"<rect x='{_LABEL_W}' y='{y}' width='{max(length, 1):.1f}' "
                       f"height='{bar_h - 1}' fill='{PALETTE[index % len(PALETTE)]}'/>")
            out.append(f"<text x='{_LABEL_W + length + 4:.1f}' y='{y + bar_h - 2}' "
                       f"{FONT} font-size='10'>{_number(value)}</text>")
    out.append("</svg>")
    return "".join(out)


def range_chart(rows: Sequence[tuple[str, float, float, float]], unit: str,
                width: int = 860) -> str:
    """Min–max whiskers with a mean dot per row, on a logarithmic axis.

    Args:
        rows: ``(label, min, mean, max)``.
        unit: Axis unit shown in the tick labels.
        width: SVG width in pixels.
    """
    rows = [r for r in rows if r[3] is not None and r[3] > 0]
    if not rows:
        return "<p class='empty'>No data.</p>"
    low = max(min(max(r[1], 0.1) for r in rows), 0.1)
    high = max(r[3] for r in rows)
    lo_exp, hi_exp = math.floor(math.log10(low)), math.ceil(math.log10(high)) or 1
    if hi_exp <= lo_exp:
        hi_exp = lo_exp + 1
    plot_w = width - _LABEL_W - _RIGHT

    def x_of(value: float) -> float:
        value = max(value, 10 ** lo_exp)
        return _LABEL_W + plot_w * (math.log10(value) - lo_exp) / (hi_exp - lo_exp)

    height = 40 + _ROW_H * len(rows)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"role='img'>"]
    for exp in range(lo_exp, hi_exp + 1):
        x = x_of(10 ** exp)
        out.append(f"<line x1='{x:.1f}' y1='8' x2='{x:.1f}' y2='{height - 22}' "
                   f"stroke='#e2e8f0'/><text x='{x:.1f}' y='{height - 8}' text-anchor='middle' "
                   f"{FONT} font-size='10'>{_number(10 ** exp)} {escape(unit)}</text>")
    for row, (label, smallest, mean, largest) in enumerate(rows):
        y = 18 + row * _ROW_H
        out.append(f"<text x='{_LABEL_W - 8}' y='{y + 4}' text-anchor='end' {FONT}>"
                   f"{escape(label)}</text>")
        out.append(f"<line x1='{x_of(smallest):.1f}' y1='{y}' x2='{x_of(largest):.1f}' "
                   f"y2='{y}' stroke='{PALETTE[0]}' stroke-width='6' stroke-linecap='round' "
                   f"opacity='0.35'/>")
        out.append(f"<circle cx='{x_of(mean):.1f}' cy='{y}' r='5' fill='{PALETTE[2]}'>"
                   f"<title>min {_number(smallest)}, mean {_number(mean)}, max "
                   f"{_number(largest)} {escape(unit)}</title></circle>")
        out.append(f"<text x='{x_of(largest) + 8:.1f}' y='{y + 4}' {FONT} "
                   f"font-size='10'>mean {_number(mean)}, max {_number(largest)}</text>")
    out.append("</svg>")
    return "".join(out)


def line_chart(series: dict[str, Sequence[tuple[float, float]]], unit: str = "",
               width: int = 860, height: int = 240) -> str:
    """Time series lines (x: epoch seconds, shown as UTC times).

    Args:
        series: Name -> ``[(epoch seconds, value), ...]``.
        unit: Shown on the y axis.
        width: SVG width; height: SVG height.
    """
    points = [p for values in series.values() for p in values]
    if not points:
        return "<p class='empty'>No data.</p>"
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    top = max(p[1] for p in points) or 1
    left, right, upper, lower = 70, 40, 28, 30
    plot_w, plot_h = width - left - right, height - upper - lower

    def xy(t: float, v: float) -> tuple[float, float]:
        x = left + (plot_w * (t - t0) / (t1 - t0) if t1 > t0 else plot_w / 2)
        return x, upper + plot_h * (1 - v / top)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"role='img'>", legend(list(series), left, 14)]
    for step in range(5):
        value = top * step / 4
        _, y = xy(t0, value)
        out.append(f"<line x1='{left}' y1='{y:.1f}' x2='{width - right}' y2='{y:.1f}' "
                   f"stroke='#e2e8f0'/><text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' "
                   f"{FONT} font-size='10'>{_number(value)}{escape(unit)}</text>")
    for step in range(5):
        t = t0 + (t1 - t0) * step / 4
        x, _ = xy(t, 0)
        label = datetime.fromtimestamp(t, timezone.utc).strftime("%H:%M:%S")
        out.append(f"<text x='{x:.1f}' y='{height - 10}' text-anchor='middle' {FONT} "
                   f"font-size='10'>{label}</text>")
    for index, values in enumerate(series.values()):
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in values))
        out.append(f"<polyline points='{path}' fill='none' stroke-width='2' "
                   f"stroke='{PALETTE[index % len(PALETTE)]}'/>")
    out.append("</svg>")
    return "".join(out)


def utc(epoch: Optional[float]) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC`` of an epoch time, or ``–``."""
    if epoch is None:
        return "–"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
