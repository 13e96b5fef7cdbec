"""The PDF's lean charts (``for_print``) draw the same picture as the screen's, in fewer
SVG elements: every box of a state in one path, day numbers in one text, no tooltips."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import pytest
from report_samples import monthly_document, synthetic_systems

from app.reports.charts import daily_bars, daily_drawing, month_strip, strip_drawing
from app.reports.document import MonthlyReportDocument
from app.reports.html_format import render_monthly_html

Box = tuple[float, float, float, float]


class ChartlessText(HTMLParser):
    """The page's text outside ``<svg>``, and per class how many boxes the charts draw
    (a ``<rect>`` counts one, a merged ``<path>`` counts its ``data-count``)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.boxes: Counter[str] = Counter()
        self.titles = 0
        self._svg_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg":
            self._svg_depth += 1
        if tag == "title" and self._svg_depth:
            self.titles += 1
        for name in (attributes.get("class") or "").split():
            if tag in ("rect", "path"):
                self.boxes[name] += int(attributes.get("data-count") or 1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._svg_depth:
            self.text.append(data)


def _read(page: str) -> ChartlessText:
    parser = ChartlessText()
    parser.feed(page)
    parser.close()
    return parser


def _rects(svg: str, css_class: str) -> list[Box]:
    pattern = (
        r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="[^"]+" '
        rf'class="{css_class}"'
    )
    return sorted(
        (round(float(x), 1), round(float(y), 1), round(float(w), 1), round(float(h), 1))
        for x, y, w, h in re.findall(pattern, svg)
    )


def _path_boxes(svg: str, css_class: str) -> list[Box]:
    match = re.search(rf'<path d="([^"]+)" fill="[^"]+" class="{css_class}"', svg)
    if match is None:
        return []
    return sorted(
        (round(float(x), 1), round(float(y), 1), round(float(w), 1), round(float(h), 1))
        for x, y, w, h in re.findall(r"M([\d.]+),([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z", match[1])
    )


@pytest.fixture(scope="module")
def document() -> MonthlyReportDocument:
    return monthly_document()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_print_page_has_the_same_text_and_boxes(document: MonthlyReportDocument, lang: str) -> None:
    screen = _read(render_monthly_html(document, lang))  # type: ignore[arg-type]
    printed = _read(render_monthly_html(document, lang, for_print=True))  # type: ignore[arg-type]
    assert " ".join("".join(printed.text).split()) == " ".join("".join(screen.text).split())
    drawn = {name: count for name, count in screen.boxes.items() if name[:4] in ("run-", "bar-")}
    assert drawn["bar-unknown"] > 0 and drawn["run-down"] > 0
    assert {name: printed.boxes[name] for name in drawn} == drawn
    assert screen.titles > 0 and printed.titles == 0


def test_print_daily_bars_are_the_screen_bars(document: MonthlyReportDocument) -> None:
    for figures in [*document["services"], *document["systems"]]:
        arguments = (figures["daily"], figures["target"], figures["target_display"], "c", "ja")
        screen = str(daily_bars(*arguments))  # type: ignore[arg-type]
        printed = str(daily_bars(*arguments, for_print=True))  # type: ignore[arg-type]
        for state in ("up", "down", "unknown"):
            assert _path_boxes(printed, f"bar-{state}") == _rects(screen, f"bar-{state}"), state
        # The strip's day numbers (weekly and the last) in one start-anchored text, in
        # order and readable with spaces.
        last = len(figures["daily"]) - 1
        days = " ".join(
            str(int(day["date"][-2:]))
            for index, day in enumerate(figures["daily"])
            if index % 7 == 0 or index == last
        )
        assert days == "1 8 15 22 29 31"
        assert f">{days}</text>" in printed
        assert "text-anchor" not in printed.split("<line")[0]
        assert printed.count("<text") == 4  # two axis ticks, the day row, the target key


def test_print_strip_runs_are_the_screen_runs() -> None:
    document = monthly_document(synthetic_systems(20), ())
    period = document["period"]
    strips = [s["strip"] for s in document["services"] if s.get("strip")]
    assert strips
    for strip in strips:
        arguments = (strip, period["start"], period["end"], period["timezone"], "c", "en")
        screen = str(month_strip(*arguments))  # type: ignore[arg-type]
        printed = str(month_strip(*arguments, for_print=True))  # type: ignore[arg-type]
        for state in ("down", "unknown", "excluded"):
            assert _path_boxes(printed, f"run-{state}") == _rects(screen, f"run-{state}"), state
        # One down marker per down run, the same ticks, the same day numbers.
        down_runs = sum(1 for run in strip if run["state"] == "down")
        assert printed.count("h8l-4,8z") == screen.count(" h8 l-4,8 z") == down_runs
        assert printed.count("v4") == screen.count("<line")
        numbers = re.findall(r">(\d+)</text>", screen)
        assert f">{' '.join(numbers)}</text>" in printed


def _as_printed(box: Box) -> Box:
    """A box as the SVG prints it (two decimals), then as ``_path_boxes`` reads it."""
    x, y, width, height = (round(float(f"{value:.2f}"), 1) for value in box)
    return x, y, width, height


def test_the_pdf_writers_geometry_is_the_print_charts() -> None:
    # The PDF writer draws charts from strip_drawing / daily_drawing: the same boxes,
    # markers and day numbers as the print SVG that WeasyPrint gets.
    document = monthly_document(synthetic_systems(20), ())
    period = document["period"]
    for figures in document["services"]:
        strip = figures.get("strip")
        if strip:
            printed = str(
                month_strip(
                    strip,
                    period["start"],
                    period["end"],
                    period["timezone"],
                    "c",
                    "ja",
                    for_print=True,
                )
            )
            drawing = strip_drawing(
                strip, period["start"], period["end"], timezone_name=period["timezone"]
            )
            for state in ("down", "unknown", "excluded"):
                boxes = sorted(_as_printed(box) for box in drawing.runs.get(state, []))
                assert boxes == _path_boxes(printed, f"run-{state}"), state
            assert printed.count("h8l-4,8z") == len(drawing.markers)
            assert printed.count("v4") == len(drawing.ticks)
            assert f">{' '.join(text for _x, text in drawing.labels)}</text>" in printed
        daily = figures.get("daily")
        if daily:
            arguments = (daily, figures["target"], figures["target_display"])
            printed = str(daily_bars(*arguments, "c", "ja", for_print=True))  # type: ignore[arg-type]
            drawn = daily_drawing(*arguments, "ja")  # type: ignore[arg-type]
            for state in ("up", "down", "unknown"):
                boxes = sorted(_as_printed(box) for box in drawn.bars.get(state, []))
                assert boxes == _path_boxes(printed, f"bar-{state}"), state
            assert drawn.target_key in printed
