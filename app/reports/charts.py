"""SVG charts drawn on the server, so the HTML and the PDF need no script and no network.

Both charts must read without colour (printed in black and white, or by a colour-blind
reader): every state has a pattern as well as a colour, short outages get a marker shape
above the strip, and the legend names each state in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from math import floor

from markupsafe import Markup, escape

from app.reports.document import STRIP_STATES, DailyFigure, StripRun
from app.reports.formats import format_percent
from app.reports.labels import Lang, label, parse_instant, state_text

WIDTH = 720
_FONT = 'font-family="IPAexGothic, DejaVu Sans, Yu Gothic, Meiryo, sans-serif"'


@dataclass(frozen=True, slots=True)
class StateStyle:
    colour: str
    # The pattern drawn over the colour (SVG markup inside a 8x8 tile), so states differ
    # in black-and-white print too.
    overlay: str


STATE_STYLES: dict[str, StateStyle] = {
    "up": StateStyle("#2e7d32", ""),
    "down": StateStyle(
        "#c62828",
        '<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="#fff" stroke-width="1.6"/>',
    ),
    "unknown": StateStyle(
        "#9e9e9e",
        '<circle cx="2" cy="2" r="1.2" fill="#fff"/><circle cx="6" cy="6" r="1.2" fill="#fff"/>',
    ),
    "excluded": StateStyle(
        "#1565c0",
        '<path d="M0,2 h8 M0,6 h8" stroke="#fff" stroke-width="1.2"/>',
    ),
    "outside_hours": StateStyle(
        "#e0e0e0",
        '<path d="M2,0 v8 M6,0 v8" stroke="#9e9e9e" stroke-width="0.8"/>',
    ),
}
NO_DATA_STYLE = STATE_STYLES["unknown"]
MISSED_STYLE = STATE_STYLES["down"]


def _patterns(prefix: str) -> str:
    """One transparent overlay <pattern> per patterned state, ids prefixed so that several
    charts can share one page. The colour is a solid fill underneath: a tile that paints its
    own background shows hairline seams between tiles in some renderers."""
    tiles = [
        f'<pattern id="{prefix}-{state}" width="8" height="8" patternUnits="userSpaceOnUse">'
        f"{style.overlay}</pattern>"
        for state, style in STATE_STYLES.items()
        if style.overlay
    ]
    return "<defs>" + "".join(tiles) + "</defs>"


def _shape(state: str, prefix: str, attributes: str, title: str = "", kind: str = "run") -> str:
    """A rectangle in a state's colour, with its pattern over it, and an optional tooltip.

    ``kind`` names what it is in the class (``run-down``, ``bar-down``, ``key-down``) so
    that a test, or a stylesheet, can tell strip runs from bars and legend swatches.
    """
    style = STATE_STYLES[state]
    tooltip = f"<title>{escape(title)}</title>" if title else ""
    shape = f'<rect {attributes} fill="{style.colour}" class="{kind}-{state}">{tooltip}</rect>'
    if style.overlay:
        shape += f'<rect {attributes} fill="url(#{prefix}-{state})"/>'
    return shape


def _merged_shape(
    state: str, prefix: str, boxes: list[tuple[float, float, float, float]], kind: str
) -> str:
    """Every box of one state as a single path (and a single pattern overlay over it).

    The print variant of ``_shape``: WeasyPrint pays per SVG element (style cascade,
    graphics state, and a fresh pattern XObject for each ``url(#…)`` fill), so a month of
    bars as one path per state draws the same picture for a fraction of the cost.
    ``data-count`` keeps how many boxes the path holds, for tests and for readers of the
    markup.
    """
    if not boxes:
        return ""
    style = STATE_STYLES[state]
    outline = "".join(
        f"M{x:.2f},{y:.2f}h{width:.2f}v{height:.2f}h{-width:.2f}z" for x, y, width, height in boxes
    )
    shape = (
        f'<path d="{outline}" fill="{style.colour}" class="{kind}-{state}" '
        f'data-count="{len(boxes)}"/>'
    )
    if style.overlay:
        shape += f'<path d="{outline}" fill="url(#{prefix}-{state})"/>'
    return shape


# Advance widths in em, close for IPAexGothic and DejaVu Sans alike (digits are tabular,
# 0.63 and 0.636 em), so that print labels can be placed without text metrics.
_ADVANCE = {".": 0.27, "%": 0.85, " ": 0.27}
_DIGIT_ADVANCE = 0.63


def _text_width(text: str, font_size: float) -> float:
    return sum(_ADVANCE.get(char, _DIGIT_ADVANCE) for char in text) * font_size


def _label_row(
    labels: list[tuple[float, str]], y: float, font_size: float, anchor: str, fill: str = "#000"
) -> str:
    """Short numeric labels (day numbers, axis percentages) as one ``<text>`` whose glyphs
    are each given an x position.

    WeasyPrint lays SVG text out glyph by glyph anyway, but each ``<text>`` element costs a
    style cascade and, when it is centred or right-aligned, a group XObject of its own to
    measure it; one element per row with start-anchored glyphs avoids both. The labels are
    separated by spaces so that the PDF's text layer reads "1 2 3", not "123".
    """
    characters: list[str] = []
    positions: list[str] = []
    for index, (anchor_x, text) in enumerate(labels):
        width = _text_width(text, font_size)
        x = anchor_x - (width / 2 if anchor == "middle" else width if anchor == "end" else 0)
        if index:
            characters.append(" ")
            positions.append(f"{x - _ADVANCE[' '] * font_size:.2f}")
        for char in text:
            characters.append(char)
            positions.append(f"{x:.2f}")
            x += _text_width(char, font_size)
    return (
        f'<text x="{" ".join(positions)}" y="{y:.2f}" font-size="{font_size:g}" {_FONT} '
        f'fill="{fill}">{escape("".join(characters))}</text>'
    )


def _x(instant: datetime, start: datetime, span_seconds: float, left: float, width: float) -> float:
    return left + (instant - start).total_seconds() / span_seconds * width


# A strip's geometry: the bar's top and height.
_STRIP_BAR_TOP, _STRIP_BAR_HEIGHT = 12.0, 26.0


_STRIP_LEFT = 4.0
_STRIP_WIDTH = WIDTH - 8.0
_STRIP_HEIGHT = 62


@dataclass(frozen=True, slots=True)
class _StripFrame:
    """Where a period's strip sits: the screen's SVG and the print geometry share it."""

    timezone: tzinfo
    start: datetime
    span: float
    # The bar's width up to ``drawn_until`` (all of it for an ended period).
    drawn_width: float
    # (x, day of the month) at each local midnight.
    ticks: list[tuple[float, int]]


def _strip_frame(
    period_start: str, period_end: str, timezone_name: str, drawn_until: str | None
) -> _StripFrame:
    from zoneinfo import ZoneInfo

    timezone = ZoneInfo(timezone_name)
    start, end = parse_instant(period_start), parse_instant(period_end)
    span = (end - start).total_seconds()
    left, width = _STRIP_LEFT, _STRIP_WIDTH
    drawn_width = width
    if drawn_until is not None:
        drawn_width = min(
            max(_x(parse_instant(drawn_until), start, span, left, width) - left, 0), width
        )
    day_count = round(span / 86400)
    first_day = start.astimezone(timezone).day
    ticks = [(left + day * 86400 / span * width, first_day + day) for day in range(day_count + 1)]
    return _StripFrame(timezone, start, span, drawn_width, ticks)


def month_strip(
    strip: list[StripRun],
    period_start: str,
    period_end: str,
    timezone_name: str,
    chart_id: str,
    lang: Lang,
    *,
    for_print: bool = False,
    drawn_until: str | None = None,
) -> Markup:
    """The period as one bar, cut into runs by state, with day ticks below.

    ``for_print`` draws the same picture with few elements and no tooltips (for the PDF):
    the runs of a state as one path, the markers as one path, the ticks as one path.
    ``drawn_until`` (a period still running) leaves the bar empty from that instant to the
    period's end, so the month keeps its width and the days to come read as not yet.
    """
    if for_print:
        drawing = strip_drawing(
            strip, period_start, period_end, timezone_name=timezone_name, drawn_until=drawn_until
        )
        return _print_strip(drawing, chart_id, lang)
    frame = _strip_frame(period_start, period_end, timezone_name, drawn_until)
    timezone, start, span = frame.timezone, frame.start, frame.span
    left, width, drawn_width = _STRIP_LEFT, _STRIP_WIDTH, frame.drawn_width
    bar_top, bar_height = _STRIP_BAR_TOP, _STRIP_BAR_HEIGHT
    height = _STRIP_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart strip" viewBox="0 0 {WIDTH} '
        f'{height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(label("month_strip", lang))}">',
        _patterns(chart_id),
        _shape(
            "up",
            chart_id,
            f'x="{left}" y="{bar_top}" width="{drawn_width:.2f}" height="{bar_height}"',
        ),
    ]
    if drawn_width < width:
        parts.append(
            f'<rect x="{left + drawn_width:.2f}" y="{bar_top}" width="{width - drawn_width:.2f}" '
            f'height="{bar_height}" fill="#fff" stroke="#9e9e9e" stroke-width="0.8" '
            'stroke-dasharray="3,2" class="run-future"/>'
        )

    def place(instant: str) -> float:
        return _x(parse_instant(instant), start, span, left, width)

    parts.extend(_strip_runs(strip, place, chart_id, lang, timezone))
    parts.extend(_day_ticks(frame.ticks, height, bar_top + bar_height))
    parts.append("</svg>")
    return Markup("".join(parts))


def _strip_runs(
    strip: list[StripRun],
    place: Callable[[str], float],
    chart_id: str,
    lang: Lang,
    timezone: tzinfo,
) -> list[str]:
    """The strip's runs other than up (drawn under them), each with its tooltip, each down
    run marked above the bar."""
    bar_top, bar_height = _STRIP_BAR_TOP, _STRIP_BAR_HEIGHT
    parts: list[str] = []
    for run in strip:
        if run["state"] == "up":
            continue
        run_start, run_end = place(run["start"]), place(run["end"])
        # A two-minute outage is 0.03 px wide in a month: draw it at least 1.5 px wide and
        # mark it above the bar so it is seen, not just present (strip_drawing does the
        # same for print).
        run_width = max(run_end - run_start, 1.5)
        title = (
            f"{state_text(run['state'], lang)}: "
            f"{parse_instant(run['start']).astimezone(timezone):%Y-%m-%d %H:%M} – "
            f"{parse_instant(run['end']).astimezone(timezone):%Y-%m-%d %H:%M}"
        )
        parts.append(
            _shape(
                run["state"],
                chart_id,
                f'x="{run_start:.2f}" y="{bar_top}" width="{run_width:.2f}" height="{bar_height}"',
                title,
            )
        )
        if run["state"] == "down":
            centre = run_start + run_width / 2
            parts.append(
                f'<path d="M{centre - 4:.2f},2 h8 l-4,8 z" fill="#c62828" stroke="#000" '
                'stroke-width="0.5"/>'
            )
    return parts


def _print_strip(drawing: StripDrawing, chart_id: str, lang: Lang) -> Markup:
    """The strip for WeasyPrint: the runs of a state as one path, the markers as one path,
    the ticks as one path, the day numbers as one text, no tooltips."""
    left, bar_top, drawn_width, bar_height = drawing.bar
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart strip" viewBox="0 0 {WIDTH} '
        f'{drawing.height}" width="{WIDTH}" height="{drawing.height}" role="img" '
        f'aria-label="{escape(label("month_strip", lang))}">',
        _patterns(chart_id),
        _shape(
            "up",
            chart_id,
            f'x="{left}" y="{bar_top}" width="{drawn_width:.2f}" height="{bar_height}"',
        ),
    ]
    if drawing.future is not None:
        future_x, future_y, future_width, future_height = drawing.future
        parts.append(
            f'<rect x="{future_x:.2f}" y="{future_y}" width="{future_width:.2f}" '
            f'height="{future_height}" fill="#fff" stroke="#9e9e9e" stroke-width="0.8" '
            'stroke-dasharray="3,2" class="run-future"/>'
        )
    parts.extend(
        _merged_shape(state, chart_id, boxes, "run") for state, boxes in drawing.runs.items()
    )
    if drawing.markers:
        markers = "".join(f"M{centre - 4:.2f},2h8l-4,8z" for centre in drawing.markers)
        parts.append(f'<path d="{markers}" fill="#c62828" stroke="#000" stroke-width="0.5"/>')
    ticks = "".join(f"M{x:.2f},{drawing.tick_top}v4" for x in drawing.ticks)
    parts.append(f'<path d="{ticks}" stroke="#555" stroke-width="0.6"/>')
    parts.append(_label_row(drawing.labels, drawing.label_y, 9, "start", "#333"))
    parts.append("</svg>")
    return Markup("".join(parts))


def _day_ticks(ticks: list[tuple[float, int]], height: int, bar_bottom: float) -> list[str]:
    """A tick under the strip at each local midnight ``(x, day of month)``, the last one
    the period's end; the 1st, 8th, 15th, ... and the last day numbered."""
    day_count = len(ticks) - 1
    numbered = [index for index in range(day_count) if index % 7 == 0 or index == day_count - 1]
    parts = []
    for index, (x, day) in enumerate(ticks):
        parts.append(
            f'<line x1="{x:.2f}" y1="{bar_bottom}" x2="{x:.2f}" '
            f'y2="{bar_bottom + 4}" stroke="#555" stroke-width="0.6"/>'
        )
        if index in numbered:
            parts.append(
                f'<text x="{x + 2:.2f}" y="{height - 6}" font-size="9" {_FONT} '
                f'fill="#333">{day}</text>'
            )
    return parts


def legend(chart_id: str, lang: Lang) -> Markup:
    """The states in words beside their pattern swatch (one SVG, reused per page)."""
    item_width = 118
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart legend" viewBox="0 0 '
        f'{item_width * len(STRIP_STATES)} 18" width="{item_width * len(STRIP_STATES)}" '
        'height="18">',
        _patterns(chart_id),
    ]
    for index, state in enumerate(STRIP_STATES):
        x = index * item_width
        parts.append(
            _shape(state, chart_id, f'x="{x}" y="3" width="16" height="12"', kind="key")
            + f'<rect x="{x}" y="3" width="16" height="12" fill="none" stroke="#333" '
            'stroke-width="0.5"/>'
            f'<text x="{x + 21}" y="13" font-size="10" {_FONT}>'
            f"{escape(state_text(state, lang))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _axis_floor(target: float, values: list[float]) -> float:
    """Bottom of the y axis: ten error budgets below 100 %, lower if a day fell lower.

    A 0–100 % axis would draw every day as a full bar; the interesting range is near the
    target, so the axis starts at 1 − 10 × (1 − target) (99 % for a 99.9 % target) and
    drops to a round percentage only if a day was worse.
    """
    # Decimal: in floats 1 - 10 * (1 - 0.9999) is 0.9990000000000001, a silly axis label.
    floor_value = float(1 - 10 * (1 - Decimal(repr(target))))
    lowest = min(values, default=1.0)
    if lowest < floor_value:
        floor_value = floor(lowest * 100) / 100 if lowest >= 0.9 else floor(lowest * 10) / 10
    return max(floor_value, 0.0)


def _percent_text(ratio: float) -> str:
    text = format((Decimal(repr(ratio)) * 100).normalize(), "f")
    return f"{text}%"


def _day_bar(
    availability: float | None,
    x: float,
    bar_width: float,
    y: Callable[[float], float],
    baseline: float,
    target: float,
) -> tuple[str, tuple[float, float, float, float]]:
    """A day's bar as (state, box): up to its availability, hatched below the target; a
    short grey stub for a day without data."""
    if availability is None:
        return "unknown", (x, baseline - 10, bar_width, 10.0)
    bar_top = y(availability)
    state = "down" if availability < target else "up"
    return state, (x, bar_top, bar_width, max(baseline - bar_top, 0.8))


def _screen_bar(
    day: DailyFigure,
    x: float,
    bar_width: float,
    y: Callable[[float], float],
    baseline: float,
    target: float,
    chart_id: str,
    lang: Lang,
) -> str:
    """``_day_bar`` as its own shape, with the day's figure as its tooltip."""
    availability = day["availability"]
    state, (_left, bar_top, _width, bar_height) = _day_bar(
        availability, x, bar_width, y, baseline, target
    )
    if availability is None:
        size, figure = 'height="10"', label("no_data", lang)
    else:
        size, figure = f'height="{bar_height:.2f}"', format_percent(availability, 3)
    attributes = f'x="{x:.2f}" y="{bar_top:.2f}" width="{bar_width:.2f}" {size}'
    return _shape(state, chart_id, attributes, f"{day['date']}: {figure}", kind="bar")


def _target_line(target_y: float, left: float, plot_width: float, display: str, lang: Lang) -> str:
    """The target as a dashed line across the plot, with its key above the plot."""
    line = (
        f'<line x1="{left}" y1="{target_y:.2f}" x2="{left + plot_width}" y2="{target_y:.2f}" '
        'stroke="#000" stroke-width="1" stroke-dasharray="5,3"/>'
    )
    # The target's key sits above the plot, right-aligned: on the axis it would collide
    # with the 100 % tick when the target is close to it.
    key_x = left + plot_width
    key_text = f"{label('target', lang)} {display}"
    # No text metrics here: ~6 px per character at 9 px is close enough to place the dash.
    dash_end = key_x - 6.0 * len(key_text) - 4
    key = (
        f'<line x1="{dash_end - 22:.1f}" y1="8" x2="{dash_end:.1f}" y2="8" stroke="#000" '
        'stroke-width="1" stroke-dasharray="5,3"/>'
        f'<text x="{key_x}" y="11" font-size="9" text-anchor="end" {_FONT}>'
        f"{escape(key_text)}</text>"
    )
    return line + key


def daily_bars(
    daily: list[DailyFigure],
    target: float,
    target_display: str,
    chart_id: str,
    lang: Lang,
    *,
    for_print: bool = False,
    last_date: str | None = None,
) -> Markup:
    """One bar per local day; days below target hatched, days without data marked.

    Days after ``last_date`` (a period still running) are left empty, not marked as
    without data: they have not happened yet.

    ``for_print`` draws the same picture with few elements and no tooltips (for the PDF):
    the bars of a state as one path, the day numbers as one text.
    """
    if for_print:
        drawing = daily_drawing(daily, target, target_display, lang, last_date=last_date)
        return _print_daily(drawing, target_display, chart_id, lang)
    left, right, top, bottom = 46.0, 8.0, 18.0, 22.0
    height = 158
    plot_width, plot_height = WIDTH - left - right, height - top - bottom
    values = [day["availability"] for day in daily if day["availability"] is not None]
    axis_floor = _axis_floor(target, values)

    def y(ratio: float) -> float:
        clamped = min(max(ratio, axis_floor), 1.0)
        return top + (1.0 - clamped) / (1.0 - axis_floor) * plot_height

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart daily" viewBox="0 0 {WIDTH} '
        f'{height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(label("daily_chart", lang))}">',
        _patterns(chart_id),
        f'<rect x="{left}" y="{top}" width="{plot_width}" height="{plot_height}" fill="none" '
        'stroke="#999" stroke-width="0.6"/>',
    ]
    for tick in (axis_floor, 1.0):
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 3:.2f}" font-size="9" text-anchor="end" '
            f"{_FONT}>{escape(_percent_text(tick))}</text>"
        )
    slot = plot_width / max(len(daily), 1)
    for index, day in enumerate(daily):
        x = left + index * slot + slot * 0.15
        bar_width = slot * 0.7
        day_number = int(day["date"][-2:])
        # Days after last_date have not happened: a number, no bar.
        future = last_date is not None and day["date"] > last_date
        grey = ' fill="#767676"' if future else ""
        parts.append(
            f'<text x="{x + bar_width / 2:.2f}" y="{height - 8}" font-size="8" '
            f'text-anchor="middle"{grey} {_FONT}>{day_number}</text>'
        )
        if not future:
            parts.append(
                _screen_bar(day, x, bar_width, y, top + plot_height, target, chart_id, lang)
            )
    parts.append(_target_line(y(target), left, plot_width, target_display, lang))
    parts.append("</svg>")
    return Markup("".join(parts))


def _print_daily(drawing: DailyDrawing, target_display: str, chart_id: str, lang: Lang) -> Markup:
    """The daily chart for WeasyPrint: the bars of a state as one path and the day numbers
    (the strip's days: 1, 8, 15, 22, 29 and the last) as one text, no tooltips. WeasyPrint
    lays SVG text out glyph by glyph, and a number under every bar was the larger part of
    the chart's cost."""
    left, top, plot_width, plot_height = drawing.plot
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart daily" viewBox="0 0 {WIDTH} '
        f'{drawing.height}" width="{WIDTH}" height="{drawing.height}" role="img" '
        f'aria-label="{escape(label("daily_chart", lang))}">',
        _patterns(chart_id),
        f'<rect x="{left}" y="{top}" width="{plot_width}" height="{plot_height}" fill="none" '
        'stroke="#999" stroke-width="0.6"/>',
    ]
    parts.extend(_label_row([(left - 4, text)], y + 3, 9, "end") for y, text in drawing.axis)
    parts.extend(
        _merged_shape(state, chart_id, boxes, "bar") for state, boxes in drawing.bars.items()
    )
    parts.append(_label_row(drawing.day_labels, drawing.label_y, 8, "middle"))
    parts.append(_target_line(drawing.target_y, left, plot_width, target_display, lang))
    parts.append("</svg>")
    return Markup("".join(parts))


# The charts as plain geometry, for the PDF writer that draws them itself (``pdf_writer``):
# the same boxes, markers, ticks and labels as the print SVG, in the SVG's units (WIDTH
# wide), so that the two can be compared and neither computes a figure of its own.

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class StripDrawing:
    height: float
    # The bar's drawn part (up underneath everything) and, in a running period, the part
    # still to come.
    bar: Box
    future: Box | None
    # Boxes per state other than up, in the order they are drawn.
    runs: dict[str, list[Box]]
    # The centre of each down run's marker (a small triangle above the bar).
    markers: list[float]
    ticks: list[float]
    tick_top: float
    # Day numbers, start-anchored at label_y.
    labels: list[tuple[float, str]]
    label_y: float


def strip_drawing(
    strip: list[StripRun],
    period_start: str,
    period_end: str,
    *,
    timezone_name: str,
    drawn_until: str | None = None,
) -> StripDrawing:
    """``month_strip``'s picture as geometry (see ``month_strip`` for what it shows)."""
    frame = _strip_frame(period_start, period_end, timezone_name, drawn_until)
    start, span = frame.start, frame.span
    left, width, drawn_width = _STRIP_LEFT, _STRIP_WIDTH, frame.drawn_width
    bar_top, bar_height = _STRIP_BAR_TOP, _STRIP_BAR_HEIGHT
    height = _STRIP_HEIGHT
    future = (
        (left + drawn_width, bar_top, width - drawn_width, bar_height)
        if drawn_width < width
        else None
    )
    runs: dict[str, list[Box]] = {}
    markers: list[float] = []
    for run in strip:
        if run["state"] == "up":
            continue
        run_start = _x(parse_instant(run["start"]), start, span, left, width)
        run_end = _x(parse_instant(run["end"]), start, span, left, width)
        run_width = max(run_end - run_start, 1.5)
        runs.setdefault(run["state"], []).append((run_start, bar_top, run_width, bar_height))
        if run["state"] == "down":
            markers.append(run_start + run_width / 2)
    ticks = frame.ticks
    day_count = len(ticks) - 1
    numbered = [index for index in range(day_count) if index % 7 == 0 or index == day_count - 1]
    return StripDrawing(
        height=height,
        bar=(left, bar_top, drawn_width, bar_height),
        future=future,
        runs=runs,
        markers=markers,
        ticks=[x for x, _day in ticks],
        tick_top=bar_top + bar_height,
        labels=[(ticks[index][0] + 2, str(ticks[index][1])) for index in numbered],
        label_y=height - 6,
    )


@dataclass(frozen=True, slots=True)
class DailyDrawing:
    height: float
    plot: Box
    # Axis ticks as (y, text), right-aligned 4 units left of the plot.
    axis: list[tuple[float, str]]
    bars: dict[str, list[Box]]
    # Day numbers centred on their bar, at label_y.
    day_labels: list[tuple[float, str]]
    label_y: float
    target_y: float
    # "目標値 99.9%": right-aligned above the plot's right edge, a dashed key before it.
    target_key: str


def daily_drawing(
    daily: list[DailyFigure],
    target: float,
    target_display: str,
    lang: Lang,
    *,
    last_date: str | None = None,
) -> DailyDrawing:
    """``daily_bars``'s print picture as geometry (see ``daily_bars``)."""
    left, right, top, bottom = 46.0, 8.0, 18.0, 22.0
    height = 158
    plot_width, plot_height = WIDTH - left - right, height - top - bottom
    values = [day["availability"] for day in daily if day["availability"] is not None]
    axis_floor = _axis_floor(target, values)

    def y(ratio: float) -> float:
        clamped = min(max(ratio, axis_floor), 1.0)
        return top + (1.0 - clamped) / (1.0 - axis_floor) * plot_height

    slot = plot_width / max(len(daily), 1)
    bars: dict[str, list[Box]] = {}
    day_labels: list[tuple[float, str]] = []
    for index, day in enumerate(daily):
        x = left + index * slot + slot * 0.15
        bar_width = slot * 0.7
        if index % 7 == 0 or index == len(daily) - 1:
            day_labels.append((x + bar_width / 2, str(int(day["date"][-2:]))))
        if last_date is not None and day["date"] > last_date:
            continue
        state, box = _day_bar(day["availability"], x, bar_width, y, top + plot_height, target)
        bars.setdefault(state, []).append(box)
    return DailyDrawing(
        height=height,
        plot=(left, top, plot_width, plot_height),
        axis=[(y(tick), _percent_text(tick)) for tick in (axis_floor, 1.0)],
        bars=bars,
        day_labels=day_labels,
        label_y=height - 8,
        target_y=y(target),
        target_key=f"{label('target', lang)} {target_display}",
    )
