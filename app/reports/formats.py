"""How a number or a text becomes what people read: one formatter per kind of value.

Every surface (the CLI table, the pages, the CSV, the workbook, the HTML and the PDF)
formats through these functions, so the same figure reads the same everywhere.

The rule, after SLA-SEMANTICS §5, is that display **truncates** and never rounds up: a
percentage is cut to its precision (99.8996 % → "99.89%"), a duration to a tenth of a
second (869.46 s → "14 min 29.4 s"). For a negative duration (an overspent error budget)
"truncate" means towards the smaller value, minus infinity, not towards zero: −0.04 s
shows as "−0.1 s". So a remaining budget is never shown larger than it is, an overspent
budget never reads as "0" (or as a "-0.0" that looks like a typo), and the sign shown is
always the sign of the figure.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Literal

Lang = Literal["ja", "en"]
Ratio = float | Decimal | Fraction

NO_VALUE = "—"
_TENTH = Decimal("0.1")
_MILLI = Decimal("0.001")


def _exact(seconds: float | int | Decimal) -> Decimal:
    # Decimal of the float's repr, so 869.4 stays 869.4 and is not 869.39999...
    return Decimal(repr(seconds)) if isinstance(seconds, float) else Decimal(seconds)


def format_duration(
    seconds: float | int | Decimal | None, lang: Lang, *, compact: bool = False
) -> str:
    """A duration for people, cut (towards the smaller value) to a tenth of a second.

    - ``lang`` text, for pages and reports: "44分29.4秒" / "44 min 29.4 s", with days for
      long spans ("30 d 22 h 0 min"); None is "—".
    - ``compact``, for the command line's fixed-width table: "59m59.9s", "1h00m00.0s"
      (hours, never days, so columns of monthly figures compare at a glance); None is "-".

    The exact seconds belong beside it (``format_seconds``) or in their own column.
    """
    if seconds is None:
        return "-" if compact else NO_VALUE
    exact = _exact(seconds).quantize(_TENTH, rounding=ROUND_FLOOR)
    sign = "-" if exact < 0 else ""
    remaining = abs(exact)
    if compact:
        hours, rest = divmod(remaining, 3600)
        minutes, secs = divmod(rest, 60)
        if hours:
            return f"{sign}{int(hours)}h{int(minutes):02d}m{secs:04.1f}s"
        if minutes:
            return f"{sign}{int(minutes)}m{secs:04.1f}s"
        return f"{sign}{secs:.1f}s"
    days, remaining = divmod(remaining, 86400)
    hours, remaining = divmod(remaining, 3600)
    minutes, secs = divmod(remaining, 60)
    secs_text = format(secs.normalize() if secs else Decimal(0), "f")
    units = (("日", "d", days), ("時間", "h", hours), ("分", "min", minutes))
    parts: list[str] = []
    for unit_ja, unit_en, amount in units:
        if amount or parts:
            parts.append(f"{int(amount)}{unit_ja}" if lang == "ja" else f"{int(amount)} {unit_en}")
    if secs or not parts:
        parts.append(f"{secs_text}秒" if lang == "ja" else f"{secs_text} s")
    return sign + ("" if lang == "ja" else " ").join(parts)


def format_seconds(seconds: float | int | None, lang: Lang) -> str:
    """Exact seconds, as shown beside a human duration: "2,671,200 秒", "869.456 s".

    Integers as they are; a fractional figure (an error budget) cut towards the smaller
    value to the millisecond, which is all the precision the store has. None is empty.
    """
    if seconds is None:
        return ""
    if isinstance(seconds, int):
        number = f"{seconds:,}"
    else:
        cut = _exact(seconds).quantize(_MILLI, rounding=ROUND_FLOOR)
        number = f"{cut:,f}".rstrip("0").rstrip(".")
        if number in ("-0", ""):
            number = "0"
    return f"{number} {'秒' if lang == 'ja' else 's'}"


def truncate_ratio(ratio: Ratio, decimals: int) -> Decimal:
    """A ratio cut (never rounded up) to ``decimals`` places of a percentage.

    0.9989999 at 2 decimals is 0.9989 (shown "99.89%"). A ``Fraction`` is cut exactly;
    a float from its shortest repr, which is what the document's JSON holds.
    """
    places = decimals + 2
    if isinstance(ratio, Fraction):
        return Decimal(math.floor(ratio * Fraction(10) ** places)).scaleb(-places)
    exact = Decimal(repr(ratio)) if isinstance(ratio, float) else ratio
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR)


def format_percent(ratio: Ratio | None, decimals: int, *, none: str = NO_VALUE) -> str:
    """A ratio as a truncated percentage: 0.989957 at 2 decimals is "98.99%", never
    "99.00%". None (no data, nothing scheduled) is ``none``, never "0%" or "100%"."""
    if ratio is None:
        return none
    return f"{truncate_ratio(ratio, decimals) * 100:.{decimals}f}%"


def percent_decimals(display: str | None, default: int = 2) -> int:
    """Decimals the engine chose for a display string: "99.93%" → 2, "99.993%" → 3.

    Coverage, for which the engine gives no display string, is shown with the
    availability's precision: ``format_percent(coverage, percent_decimals(availability_display))``.
    """
    if not display:
        return default
    number = display.strip().rstrip("%").strip()
    return len(number.split(".", 1)[1]) if "." in number else 0


def display_ratio(display: str) -> Decimal:
    """The truncated ratio a display string shows: "99.93%" → Decimal("0.9993")."""
    return Decimal(display.strip().rstrip("%").strip()) / 100


# A spreadsheet reads a cell starting with one of these as a formula (tab and carriage
# return too: some programs strip them and then see the "=" behind).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """Text for a CSV or workbook cell that no spreadsheet runs as a formula.

    As OWASP recommends for CSV injection, a text starting with ``= + - @``, tab or carriage
    return gets a leading single quote: ``=1+2`` is written ``'=1+2``. Only text is touched:
    numbers are written as numbers (a negative budget stays ``-12.5``), so this must never
    be applied to a number turned into a string.
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
