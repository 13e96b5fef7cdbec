"""Durations as people write them in the catalog ("90s", "1h30m") and as integer milliseconds.

Inside Kadou every duration is an integer number of milliseconds; the text form only exists
at the edges (YAML, summaries, pages), so both directions live here.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Largest unit first: parse_duration requires that order, format_duration produces it.
UNIT_MS: dict[str, int] = {
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1_000,
    "ms": 1,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_EXPECTED = "expected a duration such as '500ms', '10s', '1h30m' or '2d', or a number of seconds"


def parse_duration(text: str | int) -> int:
    """The duration ``text`` in integer milliseconds.

    Text is one or more ``<number><unit>`` parts, largest unit first, with the units
    ``d h m s ms`` (``"1h30m"``, ``"1.5s"``). An integer is a number of seconds, because
    that is what a bare ``interval: 60`` in YAML means to a reader. Raises ``ValueError``
    naming the expected form for anything else, including a result that is not a whole
    number of milliseconds.
    """
    # bool is an int subclass, but "interval: yes" is a mistake, not one second.
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError(f"{_EXPECTED}; got {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"a duration cannot be negative; got {text}")
        return text * 1000

    compact = text.strip().replace(" ", "")
    if not compact:
        raise ValueError(f"{_EXPECTED}; got an empty text")
    if compact.isdigit():
        # A quoted "60" could mean seconds or milliseconds: make the writer say which.
        raise ValueError(f"{text!r} has no unit; write {compact + 's'!r} for seconds")

    total = Decimal(0)
    position = 0
    previous_unit_ms: int | None = None
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        number, unit = match.groups()
        unit_ms = UNIT_MS[unit]
        if previous_unit_ms is not None and unit_ms >= previous_unit_ms:
            raise ValueError(
                f"{text!r}: units must go from largest to smallest, each at most once "
                f"(d, h, m, s, ms), as in '1h30m'"
            )
        previous_unit_ms = unit_ms
        try:
            total += Decimal(number) * unit_ms
        except InvalidOperation:  # pragma: no cover - the pattern only admits decimals
            break
        position = match.end()
    if position != len(compact) or previous_unit_ms is None:
        raise ValueError(f"{_EXPECTED}; got {text!r}")
    if total != total.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of milliseconds")
    return int(total)


def format_duration(duration_ms: int) -> str:
    """The shortest exact text that parse_duration reads back: 5_400_000 -> ``"1h30m"``."""
    if duration_ms == 0:
        return "0s"
    sign = "-" if duration_ms < 0 else ""
    remaining = abs(duration_ms)
    parts: list[str] = []
    for unit, unit_ms in UNIT_MS.items():
        count, remaining = divmod(remaining, unit_ms)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
