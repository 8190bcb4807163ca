"""Inline SVG charts for printed reports: plain strings, no scripts, readable in black and white."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from townhall.core.taxonomy import INTENTS

# Distinct hues that stay apart when printed in grey (alternating lightness).
_PALETTE = (
    "#b2182b",
    "#ef8a62",
    "#7f3b08",
    "#fdb863",
    "#2166ac",
    "#1b7837",
    "#542788",
    "#d6604d",
    "#4393c3",
    "#a6dba0",
    "#c2a5cf",
    "#bababa",
    "#878787",
)
INTENT_COLOURS: dict[str, str] = dict(zip(INTENTS, _PALETTE, strict=True))
SENTIMENT_COLOURS: dict[str, str] = {
    "negative": "#b2182b",
    "neutral": "#bababa",
    "positive": "#1b7837",
}
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def colour_for(label: str, colours: Mapping[str, str]) -> str:
    return colours.get(label, "#878787")


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'role="img" aria-label="{escape(label)}" class="chart">' + "".join(body) + "</svg>"
    )


def stacked_shares(
    rows: Sequence[tuple[str, Sequence[tuple[str, int, float]]]],
    colours: Mapping[str, str],
    label: str,
    *,
    left: float = 130.0,
) -> str:
    """One 100% bar per row; each segment is (name, count, share) with a hover title.

    ``left`` is the room for the row labels.
    """
    width, bar_h, gap = 760.0, 22.0, 8.0
    span = width - left - 10
    body = []
    for index, (row_label, segments) in enumerate(rows):
        y = index * (bar_h + gap)
        body.append(
            f'<text x="{left - 6:g}" y="{y + bar_h * 0.7:g}" text-anchor="end" '
            f'font-size="12">{escape(row_label)}</text>'
        )
        x = left
        for name, count, share in segments:
            w = span * share
            if w <= 0:
                continue
            body.append(
                f'<rect x="{x:.2f}" y="{y:g}" width="{w:.2f}" height="{bar_h:g}" '
                f'fill="{colour_for(name, colours)}" stroke="#fff" stroke-width="0.5">'
                f"<title>{escape(name)}: {count} ({share * 100:.1f}%)</title></rect>"
            )
            x += w
    height = max(1, len(rows)) * (bar_h + gap)
    return _svg(width, height, body, label)


def heatmap(matrix: Sequence[Sequence[float]], label: str, unit: str = "per hour") -> str:
    """A 7×24 grid, darker for busier hours; each cell's title holds its value."""
    cell_w, cell_h, left, top = 28.0, 20.0, 40.0, 18.0
    peak = max((max(row) for row in matrix), default=0.0) or 1.0
    body = []
    for hour in range(0, 24, 3):
        body.append(
            f'<text x="{left + hour * cell_w + cell_w / 2:g}" y="12" text-anchor="middle" '
            f'font-size="10">{hour:02d}h</text>'
        )
    for day, row in enumerate(matrix):
        y = top + day * cell_h
        body.append(
            f'<text x="{left - 6:g}" y="{y + cell_h * 0.7:g}" text-anchor="end" '
            f'font-size="11">{DAY_LABELS[day]}</text>'
        )
        for hour, value in enumerate(row):
            # Lightness scale from white to deep blue; stays legible in greyscale print.
            level = value / peak
            shade = int(255 - level * 200)
            fill = f"rgb({shade},{int(255 - level * 140)},{255 - int(level * 60)})"
            body.append(
                f'<rect x="{left + hour * cell_w:g}" y="{y:g}" width="{cell_w - 1:g}" '
                f'height="{cell_h - 1:g}" fill="{fill}" stroke="#ddd" stroke-width="0.5">'
                f"<title>{DAY_LABELS[day]} {hour:02d}:00 — {value:.2f} {escape(unit)}</title></rect>"
            )
    return _svg(left + 24 * cell_w + 4, top + 7 * cell_h + 4, body, label)


def week_bars(matrix: Sequence[Sequence[int]], label: str, unit: str = "agents") -> str:
    """168 bars, one per hour of the week, with a line between days."""
    bar_w, height, left, bottom = 4.5, 120.0, 34.0, 18.0
    values = [value for row in matrix for value in row]
    peak = max(values, default=0) or 1
    body = [
        f'<text x="{left - 4:g}" y="10" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{left - 4:g}" y="{height:g}" text-anchor="end" font-size="10">0</text>',
    ]
    for index, value in enumerate(values):
        h = (height - 10) * value / peak
        x = left + index * bar_w
        if index % 24 == 0:
            body.append(
                f'<line x1="{x:g}" y1="0" x2="{x:g}" y2="{height:g}" stroke="#999" '
                'stroke-width="0.5"/>'
                f'<text x="{x + 12 * bar_w:g}" y="{height + 13:g}" text-anchor="middle" '
                f'font-size="10">{DAY_LABELS[index // 24]}</text>'
            )
        if value:
            body.append(
                f'<rect x="{x:g}" y="{height - h:.2f}" width="{bar_w - 0.6:g}" height="{h:.2f}" '
                f'fill="#2166ac"><title>{DAY_LABELS[index // 24]} {index % 24:02d}:00 — '
                f"{value} {escape(unit)}</title></rect>"
            )
    return _svg(left + 168 * bar_w + 4, height + bottom, body, label)


def paired_bars(rows: Sequence[tuple[str, float, float | None]], label: str, currency: str) -> str:
    """Two horizontal bars per row (in-house, agency) on one scale; ``None`` means not allowed."""
    width, left, bar_h = 760.0, 150.0, 12.0
    span = width - left - 180  # room for the value label
    peak = max((max(a, b or 0.0) for _, a, b in rows), default=0.0) or 1.0
    body = []
    for index, (row_label, in_house, agency) in enumerate(rows):
        y = index * (2 * bar_h + 10)
        body.append(
            f'<text x="{left - 6:g}" y="{y + bar_h + 3:g}" text-anchor="end" '
            f'font-size="11">{escape(row_label)}</text>'
        )
        for offset, value, fill, who in (
            (0.0, in_house, "#2166ac", "in-house"),
            (bar_h, agency, "#ef8a62", "agency"),
        ):
            if value is None:
                continue
            w = span * value / peak
            body.append(
                f'<rect x="{left:g}" y="{y + offset:g}" width="{w:.2f}" height="{bar_h - 1:g}" '
                f'fill="{fill}"><title>{who}: {currency} {value:,.2f} per week</title></rect>'
                f'<text x="{left + w + 4:.2f}" y="{y + offset + bar_h - 2:g}" font-size="10">'
                f"{who} {currency} {value:,.2f}</text>"
            )
    height = max(1, len(rows)) * (2 * bar_h + 10)
    return _svg(width, height, body, label)


def legend(names: Sequence[str], colours: Mapping[str, str]) -> str:
    """A row of coloured keys for the series of a chart (HTML, not SVG, so it wraps)."""
    return (
        '<p class="legend">'
        + " ".join(
            f'<span style="white-space:nowrap"><span style="display:inline-block;width:10px;'
            f'height:10px;background:{colour_for(n, colours)}"></span> {escape(n)}</span>'
            for n in names
        )
        + "</p>"
    )


def stacked_columns(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    colours: Mapping[str, str],
    label: str,
    unit: str = "conversations",
) -> str:
    """One column per period, stacked by series; each segment's title holds its value."""
    width, height, left, bottom = 760.0, 200.0, 40.0, 20.0
    totals = [sum(values[i] for _, values in series) for i in range(len(x_labels))]
    peak = max(totals, default=0.0) or 1.0
    step = (width - left) / max(1, len(x_labels))
    bar_w = step * 0.75
    body = [
        f'<text x="{left - 4:g}" y="10" text-anchor="end" font-size="10">{peak:,.0f}</text>',
        f'<text x="{left - 4:g}" y="{height:g}" text-anchor="end" font-size="10">0</text>',
    ]
    for index, x_label in enumerate(x_labels):
        x = left + index * step
        y = height
        for name, values in series:
            value = values[index]
            if value <= 0:
                continue
            h = (height - 10) * value / peak
            y -= h
            body.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" '
                f'fill="{colour_for(name, colours)}"><title>{escape(x_label)} · {escape(name)}: '
                f"{value:,.0f} {escape(unit)}</title></rect>"
            )
        if len(x_labels) <= 16 or index % max(1, len(x_labels) // 8) == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.2f}" y="{height + 14:g}" text-anchor="middle" '
                f'font-size="10">{escape(x_label)}</text>'
            )
    return _svg(width, height + bottom, body, label)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    colours: Mapping[str, str],
    label: str,
    unit: str = "",
    y_max: float | None = None,
) -> str:
    """One line per series over the periods; a None value breaks the line (no data)."""
    width, height, left, bottom = 760.0, 180.0, 48.0, 20.0
    values = [v for _, vs in series for v in vs if v is not None]
    peak = y_max if y_max is not None else (max(values, default=0.0) or 1.0)
    step = (width - left - 10) / max(1, len(x_labels) - 1)
    body = [
        f'<text x="{left - 4:g}" y="10" text-anchor="end" font-size="10">{peak:,.0f}{escape(unit)}</text>',
        f'<text x="{left - 4:g}" y="{height:g}" text-anchor="end" font-size="10">0</text>',
        f'<line x1="{left:g}" y1="{height:g}" x2="{width:g}" y2="{height:g}" stroke="#ccc"/>',
    ]
    for index, x_label in enumerate(x_labels):
        if len(x_labels) <= 16 or index % max(1, len(x_labels) // 8) == 0:
            body.append(
                f'<text x="{left + index * step:.2f}" y="{height + 14:g}" text-anchor="middle" '
                f'font-size="10">{escape(x_label)}</text>'
            )
    for name, points in series:
        colour = colour_for(name, colours)
        segments: list[list[str]] = [[]]
        for index, value in enumerate(points):
            if value is None:
                segments.append([])
                continue
            x = left + index * step
            y = height - (height - 10) * min(value, peak) / peak
            segments[-1].append(f"{x:.2f},{y:.2f}")
            body.append(
                f'<circle cx="{x:.2f}" cy="{y:.2f}" r="2.5" fill="{colour}"><title>'
                f"{escape(x_labels[index])} · {escape(name)}: {value:,.1f}{escape(unit)}"
                "</title></circle>"
            )
        body.extend(
            f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" '
            'stroke-width="2"/>'
            for segment in segments
            if len(segment) > 1
        )
    return _svg(width, height + bottom, body, label)
