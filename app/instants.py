"""Reading a time a user typed: one parser for the command line, the API and the pages.

ISO 8601, with or without a UTC offset; without one, the time is in the reporting time
zone (what an operator in Tokyo means by "2026-10-04T01:00"). A bad value is an
``InvalidInput`` naming the field and showing the form to use: the CLI prints it on one
line, the API returns it as a 422 problem, the pages show it beside the field.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.errors import InvalidInput

EXAMPLE = "2026-10-04T01:00"


def parse_instant(text: str, field: str, zone: ZoneInfo) -> datetime:
    """An aware datetime from ISO 8601 text; no offset means the reporting time zone."""
    text = text.strip()
    if not text:
        raise InvalidInput(
            f"a time is required; write e.g. {EXAMPLE}",
            field=field,
            ja=f"日時を入力してください（例: {EXAMPLE}）",
        )
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not an ISO 8601 time; write e.g. {EXAMPLE} (the reporting time zone)"
            f" or {EXAMPLE}+09:00",
            field=field,
            ja=f"{text!r} は日時として読めません。{EXAMPLE} の形で入力してください",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
