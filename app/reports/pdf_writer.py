"""The monthly PDF drawn directly with fpdf2, from the same content as the HTML report.

WeasyPrint lays out the print HTML like a browser would, and that costs about 75 ms of CPU
per page (parsing, style, table layout and drawing each a fifth): 19 s for the 242 pages of
200 services. The monthly report's layout is fixed (a summary page, then one page per
card), so this module places the same words and figures (``html_format.monthly_view``)
and the same chart geometry (``charts.strip_drawing``, ``charts.daily_drawing``) on A4
itself, about twenty times faster. Same inputs, same bytes: nothing here reads the clock,
and the PDF's date is the report's ``generated_at``.

It needs fpdf2 and the fonts the stylesheet names (IPAexGothic for Japanese, DejaVu Sans
for the symbols IPAex lacks, DejaVu Sans Mono for identifiers). ``available`` says whether
they are there; without them the report goes through WeasyPrint (``pdf_format``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import ceil, floor
from typing import TYPE_CHECKING

from app.reports import charts
from app.reports.charts import Box, DailyDrawing, StripDrawing
from app.reports.document import STRIP_STATES
from app.reports.html_format import FigureCard, MonthlyView, Stat
from app.reports.labels import Lang, label, parse_instant, state_text

if TYPE_CHECKING:
    from fpdf import FPDF

# A4 portrait in points, and the stylesheet's page margins (14 / 12 / 16 mm).
PAGE_WIDTH, PAGE_HEIGHT = 595.28, 841.89
_MM = 72 / 25.4
TOP, SIDE, BOTTOM = 14 * _MM, 12 * _MM, 16 * _MM
CONTENT_WIDTH = PAGE_WIDTH - 2 * SIDE
# One CSS pixel, as WeasyPrint prints it.
PX = 0.75
LINE = 1.45  # the stylesheet's line-height
# A table cell's padding (2px 5px).
PAD_X, PAD_Y = 5 * PX, 2 * PX
# Synthetic bold: the outline stroked this fraction of the font size wide.
BOLD_STROKE = 0.02

Colour = tuple[int, int, int]
TEXT: Colour = (0x11, 0x11, 0x11)
GREY: Colour = (0x55, 0x55, 0x55)
BORDER: Colour = (0xB8, 0xC2, 0xCC)
HEADER_FILL: Colour = (0xE8, 0xEE, 0xF5)
RULE: Colour = (0x1F, 0x3A, 0x60)
MET: Colour = (0x1B, 0x5E, 0x20)
MISSED: Colour = (0xB0, 0x00, 0x20)
INSUFFICIENT: Colour = (0x8A, 0x5A, 0x00)
# The classes the HTML gives figures, as (colour, bold).
_CLASS_STYLE: dict[str, tuple[Colour, bool]] = {
    "": (TEXT, False),
    "met": (MET, False),
    "missed": (MISSED, True),
    "insufficient": (INSUFFICIENT, True),
}

# fontconfig family -> our name for it in the PDF writer.
_FONTS = {"ipa": "IPAexGothic", "dejavu": "DejaVu Sans", "mono": "DejaVu Sans Mono"}


@lru_cache(maxsize=1)
def _font_files() -> dict[str, str] | None:
    """The files of the three fonts, from fontconfig, or None if one is missing."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    files: dict[str, str] = {}
    for name, family in _FONTS.items():
        listed = subprocess.run(
            [fc_list, family, "--format", "%{file}\t%{family}\t%{style}\n"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        # Exactly this family's upright face (fc-list also lists "DejaVu Sans Condensed"
        # and the bold faces under "DejaVu Sans"), TrueType only; sorted so that the choice
        # never varies from run to run.
        candidates = sorted(
            path
            for path, families, styles in (
                line.split("\t") for line in listed.splitlines() if line.count("\t") == 2
            )
            if family in families.split(",")
            and {"Regular", "Book"} & set(styles.split(","))
            and path.lower().endswith(".ttf")
        )
        if not candidates:
            return None
        files[name] = candidates[0]
    return files


def available() -> bool:
    """Whether this writer can run here: fpdf2 importable and the three fonts installed."""
    try:
        import fpdf  # noqa: F401
    except ImportError:
        return False
    return _font_files() is not None


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    size: float = 10.0
    colour: Colour = TEXT
    bold: bool = False
    font: str = "ipa"
    # Drawn as a badge: a rounded border in its colour around it.
    badge: bool = False


Line = list[Span]


@dataclass(frozen=True, slots=True)
class Cell:
    lines: list[Line]
    align: str = "L"
    header: bool = False
    # Long text wraps to the cell's width (names, reasons, digests); figures never do.
    wrap: bool = False


def _cell(
    text: str, *, align: str = "L", size: float = 10.0, css: str = "", wrap: bool = False
) -> Cell:
    """A cell of one text, styled as the HTML's class ``css`` styles it."""
    colour, bold = _CLASS_STYLE[css]
    return Cell([[Span(text, size, colour, bold)]], align=align, wrap=wrap)


def _header(text: str, align: str = "L") -> Cell:
    return Cell([[Span(text, bold=True)]], align=align, header=True, wrap=True)


def _badges(card: FigureCard, lang: Lang) -> list[Span]:
    """The card's result as the HTML's badges: ✓ met, ✗ missed, ⚠ insufficient data."""
    if card.met is None:
        spans = [Span(card.result, 8.5, TEXT, True, badge=True)]
    elif card.met:
        spans = [Span(f"✓ {card.result}", 8.5, MET, True, badge=True)]
    else:
        spans = [Span(f"✗ {card.result}", 8.5, MISSED, True, badge=True)]
    if card.insufficient_data:
        spans.append(
            Span(f"⚠ {label('insufficient_data', lang)}", 8.5, INSUFFICIENT, True, badge=True)
        )
    return spans


class _Writer:
    """A cursor down A4 pages: blocks are placed below each other, a block that does not
    fit starts a new page, and every page gets the running footer at the end."""

    def __init__(self, pdf: FPDF, view: MonthlyView) -> None:
        self.pdf = pdf
        self.view = view
        self.lang = view.lang
        self.y = TOP
        # The bottom margin of the block above, not yet added: CSS collapses it with the
        # next block's top margin (the larger one counts).
        self.margin = 0.0
        self._widths: dict[tuple[str, float, str, bool], float] = {}
        from fpdf.enums import TextMode

        self._fill, self._fill_stroke = TextMode.FILL, TextMode.FILL_STROKE
        self._cmaps = {name: _cmap(pdf, name) for name in _FONTS}

    # --- text -----------------------------------------------------------------------

    def runs(self, span: Span) -> list[tuple[str, str]]:
        """The span's text cut into (font, text) runs: characters its font lacks (✓ ✗ ⚠
        in IPAex) come from DejaVu Sans, as fontconfig's fallback gives them in HTML."""
        cmap = self._cmaps[span.font]
        runs: list[tuple[str, str]] = []
        for char in span.text:
            font = span.font if ord(char) in cmap else "dejavu"
            if runs and runs[-1][0] == font:
                runs[-1] = (font, runs[-1][1] + char)
            else:
                runs.append((font, char))
        return runs

    def width(self, span: Span) -> float:
        key = (span.font, span.size, span.text, span.badge)
        found = self._widths.get(key)
        if found is None:
            found = 0.0
            for font, text in self.runs(span):
                self.pdf.set_font(font, size=span.size)
                found += self.pdf.get_string_width(text)
            if span.badge:
                found += 2 * 4 * PX + 2 * PX
            self._widths[key] = found
        return found

    def draw_span(self, x: float, baseline: float, span: Span) -> float:
        """Draws a span with its baseline at ``baseline``; returns its width."""
        pdf = self.pdf
        width = self.width(span)
        if span.badge:
            pdf.set_draw_color(*span.colour)
            pdf.set_line_width(PX)
            pdf.rect(
                x,
                baseline - span.size * 0.95,
                width,
                span.size * 1.25,
                round_corners=True,
                corner_radius=3 * PX,
            )
            x += 5 * PX
        pdf.set_text_color(*span.colour)
        for font, text in self.runs(span):
            # Bold as the HTML prints it: IPAexGothic has no bold face and prints regular;
            # DejaVu's bold (identifiers, ✓ ✗ ⚠) is imitated by stroking the outlines too.
            bold = span.bold and font != "ipa"
            if bold:
                pdf.set_draw_color(*span.colour)
                pdf.set_line_width(span.size * BOLD_STROKE)
                pdf.text_mode = self._fill_stroke
            pdf.set_font(font, size=span.size)
            pdf.text(x, baseline, text)
            x += pdf.get_string_width(text)
            if bold:
                pdf.text_mode = self._fill
        return width

    def draw_line(self, x: float, baseline: float, line: Line) -> float:
        for index, span in enumerate(line):
            if index:
                x += _space(span)
            x += self.draw_span(x, baseline, span)
        return x

    def line_width(self, line: Line) -> float:
        return sum(self.width(s) for s in line) + sum(_space(s) for s in line[1:])

    def wrap(self, line: Line, width: float) -> list[Line]:
        """A line broken to ``width``: at spaces where the text has them, between any two
        characters otherwise (Japanese has no spaces; digests must break too)."""
        if self.line_width(line) <= width:
            return [line]
        lines: list[Line] = []
        current: Line = []
        used = 0.0
        for span in line:
            text = span.text
            while text:
                room = width - used - (_space(span) if current else 0)
                # A badge is one box: it moves to the next line whole.
                cut = (
                    (len(text) if self.width(span) <= room else 0)
                    if span.badge
                    else self._fit(span, text, room)
                )
                if cut == 0:
                    if current:
                        lines.append(current)
                        current, used = [], 0.0
                        continue
                    # Wider than the whole line: a badge as it is, else one character.
                    cut = len(text) if span.badge else 1
                piece = Span(
                    text[:cut].rstrip(), span.size, span.colour, span.bold, span.font, span.badge
                )
                current.append(piece)
                used += self.width(piece) + (_space(piece) if len(current) > 1 else 0)
                text = text[cut:].lstrip(" ")
                if text:
                    lines.append(current)
                    current, used = [], 0.0
        if current:
            lines.append(current)
        return lines

    def _fit(self, span: Span, text: str, room: float) -> int:
        """How many characters of ``text`` fit in ``room``: a line may end between any two
        Japanese characters, but a Latin word or number moves to the next line whole when
        a space before it fits (a word longer than the line breaks anyway)."""
        if self.width(Span(text, span.size, font=span.font)) <= room:
            return len(text)
        used, fitted, last_space = 0.0, 0, 0
        for index, char in enumerate(text):
            used += self.width(Span(char, span.size, font=span.font))
            if used > room:
                break
            fitted = index + 1
            if char == " ":
                last_space = index + 1
        inside_word = 0 < fitted < len(text) and all(
            c.isascii() and not c.isspace() for c in text[fitted - 1 : fitted + 1]
        )
        return (last_space or fitted) if inside_word else fitted

    # --- flow -----------------------------------------------------------------------

    def new_page(self) -> None:
        self.pdf.add_page()
        self.y = TOP
        self.margin = 0.0

    def room(self, height: float) -> bool:
        """Starts a new page unless ``height`` fits below the cursor; says if it did."""
        if self.y + height > PAGE_HEIGHT - BOTTOM and self.y > TOP:
            self.new_page()
            return True
        return False

    def gap(self, before: float, height: float) -> None:
        """Moves down by the collapsed margin before a block of ``height``, on a new page
        if the block does not fit (where the margin is dropped, as at a page break)."""
        collapsed = max(self.margin, before)
        self.margin = 0.0
        if not self.room(collapsed + height):
            self.y += collapsed

    def paragraph(
        self,
        line: Line,
        *,
        before: float = 3 * PX,
        after: float = 3 * PX,
        keep: float = 0.0,
    ) -> None:
        size = max(span.size for span in line)
        lines = self.wrap(line, CONTENT_WIDTH)
        self.gap(before, len(lines) * size * LINE + keep)
        for wrapped in lines:
            self.draw_line(SIDE, self.y + size * (LINE - 1) / 2 + size * 0.88, wrapped)
            self.y += size * LINE
        self.margin = after

    def h1(self, text: str) -> None:
        self.paragraph([Span(text, 17, bold=True)], before=0, after=4 * PX)

    def h2(self, text: str, *, keep: float = 40.0) -> None:
        size = 13.0
        lines = self.wrap([Span(text, size, bold=True)], CONTENT_WIDTH)
        self.gap(18 * PX, len(lines) * size * LINE + 4 * PX + keep)
        for line in lines:
            self.draw_line(SIDE, self.y + size * (LINE - 1) / 2 + size * 0.88, line)
            self.y += size * LINE
        self.y += 2 * PX
        self.pdf.set_draw_color(*RULE)
        self.pdf.set_line_width(2 * PX)
        self.pdf.line(SIDE, self.y + PX, SIDE + CONTENT_WIDTH, self.y + PX)
        self.y += 2 * PX
        self.margin = 6 * PX

    def table(
        self, widths: Sequence[float], rows: Sequence[Sequence[Cell]], size: float = 10.0
    ) -> None:
        """Rows of cells with the stylesheet's borders and padding; a row that does not
        fit starts a new page (rows never split)."""
        pdf = self.pdf
        pad_x, pad_y = PAD_X, PAD_Y
        self.y += max(self.margin, 4 * PX)
        self.margin = 0.0
        for row in rows:
            laid = []
            for cell, width in zip(row, widths, strict=True):
                lines = (
                    [w for line in cell.lines for w in self.wrap(line, width - 2 * pad_x)]
                    if cell.wrap
                    else cell.lines
                )
                laid.append(lines)
            height = (
                max(sum(max(s.size for s in line) * LINE for line in lines) for lines in laid)
                + 2 * pad_y
            )
            # One border's width too: collapsed borders sit between the rows.
            height = max(height, size * LINE + 2 * pad_y) + PX
            self.room(height)
            x = SIDE
            pdf.set_line_width(PX)
            pdf.set_draw_color(*BORDER)
            for cell, width, lines in zip(row, widths, laid, strict=True):
                if cell.header:
                    pdf.set_fill_color(*HEADER_FILL)
                    pdf.rect(x, self.y, width, height, style="DF")
                else:
                    pdf.rect(x, self.y, width, height, style="D")
                line_y = self.y + pad_y
                for line in lines:
                    line_size = max(s.size for s in line)
                    baseline = line_y + size * (LINE - 1) / 2 + size * 0.88
                    if cell.align == "R":
                        start = x + width - pad_x - self.line_width(line)
                    else:
                        start = x + pad_x
                    self.draw_line(start, baseline, line)
                    line_y += line_size * LINE
                pdf.set_line_width(PX)
                pdf.set_draw_color(*BORDER)
                x += width
            self.y += height
        self.margin = 8 * PX

    # --- charts ---------------------------------------------------------------------

    def _fill_colour(self, colour: str) -> None:
        self.pdf.set_fill_color(*_hex(colour))

    def _boxes(
        self,
        state: str,
        boxes: list[Box],
        place: Callable[[float, float], tuple[float, float]],
        scale: float,
    ) -> None:
        """Boxes of one state: its colour, then its pattern over it (as the SVG's 8×8
        tiles, anchored at the chart's origin, so that black-and-white print tells states
        apart)."""
        pdf = self.pdf
        style = charts.STATE_STYLES[state]
        self._fill_colour(style.colour)
        for bx, by, bw, bh in boxes:
            x, y = place(bx, by)
            pdf.rect(x, y, bw * scale, bh * scale, style="F")
        if not style.overlay:
            return
        for bx, by, bw, bh in boxes:
            x, y = place(bx, by)
            with pdf.rect_clip(x, y, bw * scale, bh * scale):
                _pattern(pdf, state, (bx, by, bw, bh), place, scale)

    def strip(self, drawing: StripDrawing) -> None:
        scale = CONTENT_WIDTH / charts.WIDTH
        top = self.y + max(self.margin, 2 * PX)
        pdf = self.pdf

        def place(x: float, y: float) -> tuple[float, float]:
            return SIDE + x * scale, top + y * scale

        self._boxes("up", [drawing.bar], place, scale)
        if drawing.future is not None:
            fx, fy = place(drawing.future[0], drawing.future[1])
            pdf.set_fill_color(255, 255, 255)
            pdf.set_draw_color(0x9E, 0x9E, 0x9E)
            pdf.set_line_width(0.8 * scale)
            pdf.set_dash_pattern(3 * scale, 2 * scale)
            pdf.rect(fx, fy, drawing.future[2] * scale, drawing.future[3] * scale, style="DF")
            pdf.set_dash_pattern()
        for state, boxes in drawing.runs.items():
            self._boxes(state, boxes, place, scale)
        if drawing.markers:
            pdf.set_fill_color(0xC6, 0x28, 0x28)
            pdf.set_draw_color(0, 0, 0)
            pdf.set_line_width(0.5 * scale)
            for centre in drawing.markers:
                pdf.polygon(
                    [place(centre - 4, 2), place(centre + 4, 2), place(centre, 10)], style="DF"
                )
        pdf.set_draw_color(*GREY)
        pdf.set_line_width(0.6 * scale)
        for tick in drawing.ticks:
            x, y = place(tick, drawing.tick_top)
            pdf.line(x, y, x, y + 4 * scale)
        _, baseline = place(0, drawing.label_y)
        for x, text in drawing.labels:
            self.draw_span(place(x, 0)[0], baseline, Span(text, 9 * scale, (0x33, 0x33, 0x33)))
        self.y = top + drawing.height * scale
        self.margin = 2 * PX

    def daily(self, drawing: DailyDrawing) -> None:
        scale = CONTENT_WIDTH / charts.WIDTH
        top = self.y + max(self.margin, 2 * PX)
        pdf = self.pdf

        def place(x: float, y: float) -> tuple[float, float]:
            return SIDE + x * scale, top + y * scale

        left, plot_top, plot_width, plot_height = drawing.plot
        x0, y0 = place(left, plot_top)
        pdf.set_draw_color(0x99, 0x99, 0x99)
        pdf.set_line_width(0.6 * scale)
        pdf.rect(x0, y0, plot_width * scale, plot_height * scale, style="D")
        for y, text in drawing.axis:
            span = Span(text, 9 * scale)
            right, baseline = place(left - 4, y + 3)
            self.draw_span(right - self.width(span), baseline, span)
        for state, boxes in drawing.bars.items():
            self._boxes(state, boxes, place, scale)
        _, baseline = place(0, drawing.label_y)
        for x, text in drawing.day_labels:
            span = Span(text, 8 * scale)
            self.draw_span(place(x, 0)[0] - self.width(span) / 2, baseline, span)
        # The target: a dashed line across the plot, its key above the plot's right end.
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(1 * scale)
        pdf.set_dash_pattern(5 * scale, 3 * scale)
        ty = place(0, drawing.target_y)[1]
        pdf.line(x0, ty, x0 + plot_width * scale, ty)
        key = Span(drawing.target_key, 9 * scale)
        key_right, key_baseline = place(left + plot_width, 11)
        dash_end = key_right - self.width(key) - 4 * scale
        key_y = place(0, 8)[1]
        pdf.line(dash_end - 22 * scale, key_y, dash_end, key_y)
        pdf.set_dash_pattern()
        self.draw_span(key_right - self.width(key), key_baseline, key)
        self.y = top + drawing.height * scale
        self.margin = 2 * PX

    def legend(self) -> None:
        """The states in words beside their swatch (the HTML legend, 118 px apart)."""
        pdf = self.pdf
        top = self.y + max(self.margin, 2 * PX)
        scale = PX

        def place(x: float, y: float) -> tuple[float, float]:
            return SIDE + x * scale, top + y * scale

        for index, state in enumerate(STRIP_STATES):
            x = index * 118
            self._boxes(state, [(x, 3, 16, 12)], place, scale)
            sx, sy = place(x, 3)
            pdf.set_draw_color(0x33, 0x33, 0x33)
            pdf.set_line_width(0.5 * scale)
            pdf.rect(sx, sy, 16 * scale, 12 * scale, style="D")
            tx, baseline = place(x + 21, 13)
            self.draw_span(tx, baseline, Span(state_text(state, self.lang), 10 * scale))
        self.y = top + 18 * scale
        self.margin = 2 * PX


def _cmap(pdf: FPDF, name: str) -> set[int]:
    """The code points a font has glyphs for."""
    from fpdf.fonts import TTFFont

    font = pdf.fonts[name]
    assert isinstance(font, TTFFont)
    return set(font.cmap)


def _space(span: Span) -> float:
    """The gap before a span: a space in its size (0.27 em), a badge's 4 px more."""
    return span.size * 0.27 + (4 * PX if span.badge else 0)


def _hex(colour: str) -> Colour:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _pattern(
    pdf: FPDF,
    state: str,
    box: Box,
    place: Callable[[float, float], tuple[float, float]],
    scale: float,
) -> None:
    """The overlay of ``charts.STATE_STYLES[state]`` over ``box`` (in chart units; the
    caller clips to the box)."""
    bx, by, bw, bh = box
    first_col, last_col = floor(bx / 8) * 8, ceil((bx + bw) / 8) * 8
    first_row, last_row = floor(by / 8) * 8, ceil((by + bh) / 8) * 8
    if state == "down":
        # White diagonals, x + y = 8k, 1.6 wide.
        pdf.set_draw_color(255, 255, 255)
        pdf.set_line_width(1.6 * scale)
        for k in range(floor((bx + by) / 8), ceil((bx + bw + by + bh) / 8) + 1):
            c = 8 * k
            pdf.line(*place(c - by, by), *place(c - by - bh, by + bh))
    elif state == "unknown":
        pdf.set_fill_color(255, 255, 255)
        for col in range(first_col, last_col + 1, 8):
            for row in range(first_row, last_row + 1, 8):
                for dx, dy in ((2, 2), (6, 6)):
                    cx, cy = place(col + dx, row + dy)
                    pdf.circle(cx, cy, 1.2 * scale, style="F")
    elif state == "excluded":
        pdf.set_draw_color(255, 255, 255)
        pdf.set_line_width(1.2 * scale)
        for row in range(first_row, last_row + 1, 8):
            for dy in (2, 6):
                pdf.line(*place(bx, row + dy), *place(bx + bw, row + dy))
    elif state == "outside_hours":
        pdf.set_draw_color(0x9E, 0x9E, 0x9E)
        pdf.set_line_width(0.8 * scale)
        for col in range(first_col, last_col + 1, 8):
            for dx in (2, 6):
                pdf.line(*place(col + dx, by), *place(col + dx, by + bh))


def _columns(*shares: float) -> list[float]:
    """Column widths as the stylesheet gives them: each a share of the table's width plus
    its padding (CSS widths are content widths), the last column what is left."""
    widths = [CONTENT_WIDTH * share + 2 * PAD_X for share in shares]
    return [*widths, CONTENT_WIDTH - sum(widths)]


def _stats_rows(stats: list[Stat]) -> list[list[Cell]]:
    rows = []
    for stat in stats:
        colour, bold = _CLASS_STYLE[stat.css_class]
        value = [Span(stat.value, 10, colour, bold)]
        if stat.detail:
            value.append(Span(f"({stat.detail})", 8, GREY, bold))
        rows.append(
            [
                Cell([[Span(stat.label, bold=True)]], header=True, wrap=True),
                Cell([value], align="R"),
            ]
        )
    return rows


def _card(writer: _Writer, card: FigureCard) -> None:
    lang = writer.lang
    # The heading: name, scope, result badges (as the HTML's h3), kept with the table.
    heading: Line = [
        Span(card.name, 11, bold=True),
        Span(card.scope, 8.5, bold=True, font="mono"),
        *_badges(card, lang),
    ]
    writer.paragraph(heading, before=12 * PX, after=4 * PX, keep=120)
    if card.sole_service:
        writer.paragraph(
            [Span(f"{label('service', lang)}: {card.sole_service}", colour=(0x33, 0x33, 0x33))]
        )
    if card.insufficient_data:
        writer.paragraph(
            [Span(f"⚠ {label('insufficient_data_note', lang)}", colour=INSUFFICIENT, bold=True)]
        )
    writer.table(_columns(0.34), _stats_rows(card.stats))
    scale = CONTENT_WIDTH / charts.WIDTH
    for title, drawing in (
        ("month_strip", card.strip_drawing),
        ("daily_chart", card.daily_drawing),
    ):
        if drawing is None:
            continue
        # A chart's title never ends a page without its chart.
        writer.paragraph(
            [Span(label(title, lang))], before=6 * PX, keep=drawing.height * scale + 4 * PX
        )
        if isinstance(drawing, StripDrawing):
            writer.strip(drawing)
        else:
            writer.daily(drawing)
    writer.paragraph([Span(label("incidents", lang))], before=6 * PX, keep=40)
    if card.incidents:
        widths = _columns(0.20, 0.20, 0.11, 0.15, 0.16)
        header = [
            _header(label("incident_start", lang)),
            _header(label("incident_end", lang)),
            _header(label("duration", lang), "R"),
            _header(label("downtime_in_period", lang), "R"),
            _header(label("recovery_target", lang), "R"),
            _header(label("recovery", lang)),
        ]
        rows = [header]
        for incident in card.incidents:
            mark = "✗ " if incident.recovery_met is False else "✓ " if incident.recovery_met else ""
            css = (
                "missed"
                if incident.recovery_met is False
                else "met"
                if incident.recovery_met
                else ""
            )
            rows.append(
                [
                    _cell(incident.start),
                    _cell(incident.end),
                    _cell(incident.duration, align="R"),
                    _cell(incident.downtime, align="R"),
                    _cell(incident.recovery_target, align="R"),
                    _cell(f"{mark}{incident.recovery}", css=css, wrap=True),
                ]
            )
        writer.table(widths, rows)
    else:
        writer.paragraph([Span(label("no_incidents", lang))])
    if card.exclusion_ids:
        ids = ", ".join(f"#{id}" for id in card.exclusion_ids)
        writer.paragraph([Span(f"{label('exclusions', lang)}: {ids}")])
    writer.margin = max(writer.margin, 10 * PX)


def _summary(writer: _Writer) -> None:
    view, lang = writer.view, writer.lang
    writer.h2(label("summary", lang))
    writer.paragraph([Span(view.summary_sentence)])
    widths = _columns(0.45, 0.12, 0.12)
    rows = [
        [
            _header(label("system", lang)),
            _header(label("target", lang), "R"),
            _header(label("availability", lang), "R"),
            _header(label("result", lang)),
        ]
    ]
    for card in view.system_cards:
        rows.append(
            [
                _cell(card.name, wrap=True),
                _cell(card.target, align="R"),
                _cell(card.availability, align="R", css="missed" if card.met is False else ""),
                Cell([_badges(card, lang)]),
            ]
        )
    writer.table(widths, rows)
    writer.paragraph([Span(label("legend", lang))], before=6 * PX, keep=30)
    writer.legend()


def _exclusions(writer: _Writer) -> None:
    view, lang = writer.view, writer.lang
    writer.h2(label("exclusions", lang))
    if not view.exclusions:
        writer.paragraph([Span(label("no_exclusions", lang))])
        return
    widths = _columns(0.03, 0.12, 0.07, 0.11, 0.11, 0.17, 0.07, 0.11)
    keys = ("exclusion_id", "scope", "kind", "start", "end", "reason", "created_by")
    header = [_header(label(key, lang)) for key in (*keys, "created_at", "retroactive")]
    rows = [header]
    small = 8.5
    for window in view.exclusions:
        rows.append(
            [
                _cell(str(window.id), align="R", size=small),
                Cell([[Span(window.scope, small, font="mono")]], wrap=True),
                _cell(window.kind, size=small, wrap=True),
                _cell(window.start, size=small, wrap=True),
                Cell([[Span(window.end, small)], [Span(window.duration, 8, GREY)]], wrap=True),
                _cell(window.reason, size=small, wrap=True),
                _cell(window.created_by, size=small, wrap=True),
                _cell(window.created_at, size=small, wrap=True),
                _cell(window.retroactive, size=small, wrap=True),
            ]
        )
    writer.table(widths, rows, size=small)


def _provenance(writer: _Writer) -> None:
    view, lang = writer.view, writer.lang
    writer.h2(label("section_report", lang), keep=60)
    rows = [
        [
            Cell([[Span(stat.label, 8.5, bold=True)]], header=True, wrap=True),
            Cell([[Span(stat.value, 8.5, font="mono")]], wrap=True),
        ]
        for stat in view.provenance
    ]
    writer.table(_columns(0.34), rows, size=8.5)


def _footer(writer: _Writer, text: str, page: int, pages: int) -> None:
    """The running footer: the report, its catalog digest and its date at the left, the
    page number at the right (drawn once the page count is known)."""
    baseline = PAGE_HEIGHT - BOTTOM / 2 + 2.5
    writer.draw_span(SIDE, baseline, Span(text, 7, GREY))
    number = Span(f"{page} / {pages}", 7, GREY)
    writer.draw_span(PAGE_WIDTH - SIDE - writer.width(number), baseline, number)


def _document(view: MonthlyView) -> FPDF:
    from fpdf import FPDF

    files = _font_files()
    if files is None:
        raise RuntimeError("the PDF writer's fonts are missing; check available() first")
    pdf = FPDF(orientation="P", unit="pt", format="A4")
    for name, path in files.items():
        pdf.add_font(name, "", path)
    pdf.set_margins(SIDE, TOP, SIDE)
    pdf.set_auto_page_break(False)
    pdf.c_margin = 0
    # Same inputs, same bytes: the PDF's date is the instant the report describes, and
    # the file identifier fpdf2 derives from the content and that date.
    pdf.set_creation_date(parse_instant(view.generated_at))
    pdf.set_title(view.title)
    pdf.set_lang(view.lang)
    pdf.set_creator("Kadou")
    pdf.set_producer("Kadou")
    return pdf


def write_monthly_pdf(view: MonthlyView) -> bytes:
    """The monthly report as PDF bytes; ``view`` from ``monthly_view(…, charts_as="drawing")``."""
    pdf = _document(view)
    writer = _Writer(pdf, view)
    writer.new_page()
    writer.h1(view.title)
    writer.paragraph([Span(f"{label('period', view.lang)}: {view.period_text}")])
    if view.policy:
        writer.paragraph([Span(f"{label('unknown_policy', view.lang)}: {view.policy}")])
    writer.paragraph([Span(label("definition", view.lang), 8.5, (0x44, 0x44, 0x44))])
    _summary(writer)
    for section in view.sections:
        # Each system starts a page, and each of its services' cards another.
        writer.new_page()
        writer.h2(section.name, keep=160)
        if section.card is not None:
            _card(writer, section.card)
        for index, card in enumerate(section.services):
            if index or section.card is not None:
                writer.new_page()
            _card(writer, card)
    _exclusions(writer)
    _provenance(writer)
    pages = pdf.page_no()
    for page in range(1, pages + 1):
        pdf.page = page
        # fpdf2 tracks the font set on "the" page; on a page revisited, set it anew.
        pdf.current_font_is_set_on_page = False
        _footer(writer, view.footer_text, page, pages)
    pdf.page = pages
    return bytes(pdf.output())
