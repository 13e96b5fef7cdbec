"""Validating incoming observations (``kadou import`` lines, ``POST /api/v1/results`` items).

Hand-written rather than a pydantic model per item: an import of a month of 10-second
probes is millions of lines, and these few checks are several times faster while still
naming the field and the fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from app.errors import InvalidInput
from app.store.ingest import ObservationIn
from app.store.models import clip_detail

FIELDS = ("check", "location", "observed_at", "ok", "latency_ms", "detail")
LOCATION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _known_checks_hint(known: Mapping[str, object]) -> str:
    names = sorted(known)
    if len(names) <= 12:
        return "known checks: " + ", ".join(names)
    return f"see `kadou catalog check` for the {len(names)} known checks"


def parse_observation(item: Any, known_checks: Mapping[str, object], where: str) -> ObservationIn:
    """One observation from decoded JSON; ``where`` prefixes errors ("line 12", "item 3")."""
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected a JSON object with {', '.join(FIELDS)}")
    unknown = [key for key in item if key not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"{where}: unknown field {unknown[0]!r}; allowed fields are {', '.join(FIELDS)}",
            field=unknown[0],
        )
    check = item.get("check")
    if not isinstance(check, str) or check not in known_checks:
        raise InvalidInput(
            f"{where}: unknown check {check!r}; write system/service/check ({_known_checks_hint(known_checks)})",
            field="check",
        )
    location = item.get("location")
    if not isinstance(location, str) or not LOCATION_PATTERN.match(location):
        raise InvalidInput(
            f"{where}: location must be a name of letters, digits, '.', '_' or '-' (at most 64), got {location!r}",
            field="location",
        )
    raw_at = item.get("observed_at")
    if not isinstance(raw_at, str):
        raise InvalidInput(
            f"{where}: observed_at must be an ISO 8601 time with offset, e.g. 2026-10-01T00:00:00+09:00",
            field="observed_at",
        )
    try:
        observed_at = datetime.fromisoformat(raw_at)
    except ValueError:
        raise InvalidInput(
            f"{where}: observed_at {raw_at!r} is not an ISO 8601 time; write e.g. 2026-10-01T00:00:00+09:00",
            field="observed_at",
        ) from None
    if observed_at.tzinfo is None:
        raise InvalidInput(
            f"{where}: observed_at {raw_at!r} has no offset; add one, e.g. +09:00 or Z",
            field="observed_at",
        )
    ok = item.get("ok")
    if not isinstance(ok, bool):
        raise InvalidInput(f"{where}: ok must be true or false, got {ok!r}", field="ok")
    latency = item.get("latency_ms")
    if latency is not None and (
        isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0
    ):
        raise InvalidInput(
            f"{where}: latency_ms must be a non-negative number of milliseconds or null, got {latency!r}",
            field="latency_ms",
        )
    detail = item.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise InvalidInput(f"{where}: detail must be a string or null", field="detail")
    return ObservationIn(
        check=check,
        location=location,
        observed_at=observed_at,
        ok=ok,
        latency_ms=None if latency is None else float(latency),
        detail=clip_detail(detail),
    )


def iter_json_lines(
    lines: Iterable[str], known_checks: Mapping[str, object]
) -> Iterator[ObservationIn]:
    """Observations of a JSON Lines text, one by one; raises on the first bad line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"line {number}: not valid JSON ({error.msg} at column {error.colno})"
            ) from None
        yield parse_observation(item, known_checks, f"line {number}")


def parse_json_lines(
    lines: Iterable[str], known_checks: Mapping[str, object]
) -> list[ObservationIn]:
    """Every observation of a JSON Lines text, or an error naming the first bad line."""
    return list(iter_json_lines(lines, known_checks))


def batched(items: Iterable[ObservationIn], size: int) -> Iterator[list[ObservationIn]]:
    batch: list[ObservationIn] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
