"""Validating incoming observations (``kadou import`` lines, ``POST /api/v1/results`` items).

Hand-written rather than a pydantic model per item: an import of a month of 10-second
probes is millions of lines, and these few checks are several times faster while still
naming the field and the fix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from app.errors import InvalidInput
from app.store.ingest import ObservationIn
from app.store.models import clip_detail
from app.store.types import truncate_to_ms

T = TypeVar("T")

FIELDS = ("check", "location", "observed_at", "ok", "latency_ms", "detail", "end_of_observation")
# A runner's clean stop (SLA-SEMANTICS §3.1) carries no result.
MARK_FIELDS = ("check", "location", "observed_at", "end_of_observation")
LOCATION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# No monitored system predates this, and a clock this far off is a broken clock.
EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)
# Probe clocks drift a little ahead of the server's; more than this is a wrong clock or
# zone, and an observation from the future would decide the state of times not yet seen.
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_LATENCY_MS = 86_400_000  # one day: longer than any probe's timeout


def _known_checks_hint(known: Mapping[str, object]) -> str:
    names = sorted(known)
    if len(names) <= 12:
        return "known checks: " + ", ".join(names)
    return f"see `kadou catalog check` for the {len(names)} known checks"


def _check(item: dict[str, Any], known_checks: Mapping[str, object], where: str) -> str:
    check = item.get("check")
    if not isinstance(check, str) or check not in known_checks:
        raise InvalidInput(
            f"{where}: unknown check {check!r}; write system/service/check ({_known_checks_hint(known_checks)})",
            field="check",
        )
    return check


def _location(item: dict[str, Any], where: str) -> str:
    location = item.get("location")
    if not isinstance(location, str) or not LOCATION_PATTERN.match(location):
        raise InvalidInput(
            f"{where}: location must be a name of letters, digits, '.', '_' or '-' (at most 64), got {location!r}",
            field="location",
        )
    return location


def _observed_at(item: dict[str, Any], where: str, now: datetime | None) -> datetime:
    """``observed_at``, aware, within [2000-01-01, ``now`` + 10 min]."""
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
    latest = (now or datetime.now(UTC)) + FUTURE_TOLERANCE
    if not EARLIEST_OBSERVATION <= observed_at <= latest:
        raise InvalidInput(
            f"{where}: observed_at {raw_at!r} is outside 2000-01-01 to "
            f"{latest.astimezone(UTC).isoformat(timespec='seconds')} (now + 10 min); "
            "check the probe's clock and time zone",
            field="observed_at",
        )
    return observed_at


def _latency_ms(item: dict[str, Any], where: str) -> float | None:
    latency = item.get("latency_ms")
    if latency is not None and (
        isinstance(latency, bool)
        or not isinstance(latency, int | float)
        or not math.isfinite(latency)
        or not 0 <= latency <= MAX_LATENCY_MS
    ):
        raise InvalidInput(
            f"{where}: latency_ms must be a non-negative number of milliseconds, at most {MAX_LATENCY_MS:,} (one day), or null, got {latency!r}",
            field="latency_ms",
        )
    return None if latency is None else float(latency)


def parse_observation(
    item: Any, known_checks: Mapping[str, object], where: str, *, now: datetime | None = None
) -> ObservationIn:
    """One observation from decoded JSON; ``where`` prefixes errors ("line 12", "item 3").

    ``observed_at`` must lie in [2000-01-01, ``now`` + 10 min] (``now``: the wall clock).
    """
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected a JSON object with {', '.join(FIELDS)}")
    unknown = [key for key in item if key not in FIELDS]
    if unknown:
        raise InvalidInput(
            f"{where}: unknown field {unknown[0]!r}; allowed fields are {', '.join(FIELDS)}",
            field=unknown[0],
        )
    check = _check(item, known_checks, where)
    location = _location(item, where)
    observed_at = _observed_at(item, where, now)
    end_of_observation = item.get("end_of_observation", False)
    if not isinstance(end_of_observation, bool):
        raise InvalidInput(
            f"{where}: end_of_observation must be true or false, got {end_of_observation!r}",
            field="end_of_observation",
        )
    if end_of_observation:
        extra = [key for key in item if key not in MARK_FIELDS]
        if extra:
            raise InvalidInput(
                f"{where}: an end-of-observation mark carries no {extra[0]!r}; "
                f"send only {', '.join(MARK_FIELDS)}",
                field=extra[0],
            )
        return ObservationIn(check, location, observed_at, False, end_of_observation=True)
    ok = item.get("ok")
    if not isinstance(ok, bool):
        raise InvalidInput(f"{where}: ok must be true or false, got {ok!r}", field="ok")
    latency_ms = _latency_ms(item, where)
    detail = item.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise InvalidInput(f"{where}: detail must be a string or null", field="detail")
    return ObservationIn(
        check=check,
        location=location,
        observed_at=observed_at,
        ok=ok,
        latency_ms=latency_ms,
        detail=clip_detail(detail),
    )


def conflicting_duplicate(observations: Sequence[ObservationIn]) -> tuple[int, int] | None:
    """The indexes of the first two observations of the same check, location and instant
    (to the millisecond, the stored key) with different results, or None.

    Storing keeps the first of a key and ignores re-sends, so a conflicting pair would be
    resolved silently by arrival order; it is refused instead.
    """
    seen: dict[tuple[str, str, datetime], int] = {}
    for index, observation in enumerate(observations):
        key = observation_key(observation)
        first = seen.setdefault(key, index)
        if first != index and _outcome(observations[first]) != _outcome(observation):
            return first, index
    return None


def _outcome(observation: ObservationIn) -> tuple[object, ...]:
    # Whatever decides the state: the result, and the mark of a runner that stopped.
    return (observation.ok, observation.end_of_observation)


def iter_json_lines(
    lines: Iterable[str], known_checks: Mapping[str, object]
) -> Iterator[ObservationIn]:
    """Observations of a JSON Lines text, one by one; raises on the first bad line."""
    for _, observation in iter_numbered_json_lines(lines, known_checks):
        yield observation


def iter_numbered_json_lines(
    lines: Iterable[str], known_checks: Mapping[str, object]
) -> Iterator[tuple[int, ObservationIn]]:
    """(line number, observation) of a JSON Lines text; raises on the first bad line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"line {number}: not valid JSON ({error.msg} at column {error.colno})"
            ) from None
        yield number, parse_observation(item, known_checks, f"line {number}")


def observation_key(observation: ObservationIn) -> tuple[str, str, datetime]:
    """What identifies a stored observation: check, location and instant to the ms."""
    return (observation.check, observation.location, truncate_to_ms(observation.observed_at))


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
