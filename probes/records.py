"""What a probe runner sends: observations and heartbeats, and their JSON forms.

Shared by the sinks that deliver them (``probes.sink``) and the spool that keeps them
through an outage (``probes.spool``), so neither of those imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def _iso(instant: datetime) -> str:
    # Milliseconds: instants are integer ms inside Kadou, so a resent observation always
    # carries the same observed_at text and the server's dedup key matches.
    return instant.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_instant(text: str, field: str) -> datetime:
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"{field} {text!r} has no UTC offset; write e.g. 2025-01-01T00:00:00Z")
    return instant.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """One probe result as it leaves the probe runner (and as ``kadou import`` reads it).

    With ``end_of_observation`` it is instead the mark a runner sends per check when it
    stops cleanly: ``observed_at`` is the instant it stopped, and the result fields are
    unused (it travels as ``{"check", "location", "observed_at", "end_of_observation":
    true}``).
    """

    check: str  # check key "system/service/check"
    location: str
    observed_at: datetime  # aware UTC, when the probe started
    ok: bool
    latency_ms: float | None
    detail: str | None  # why it failed; None when ok
    end_of_observation: bool = False

    @classmethod
    def end_mark(cls, check: str, location: str, stopped_at: datetime) -> ObservationRecord:
        return cls(check, location, stopped_at, False, None, None, end_of_observation=True)

    def to_json(self) -> dict[str, object]:
        if self.end_of_observation:
            return {
                "check": self.check,
                "location": self.location,
                "observed_at": _iso(self.observed_at),
                "end_of_observation": True,
            }
        return {
            "check": self.check,
            "location": self.location,
            "observed_at": _iso(self.observed_at),
            "ok": self.ok,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, fields: dict[str, object]) -> ObservationRecord:
        if fields.get("end_of_observation") is True:
            return cls.end_mark(
                str(fields["check"]),
                str(fields["location"]),
                _parse_instant(str(fields["observed_at"]), "observed_at"),
            )
        latency_ms = fields.get("latency_ms")
        detail = fields.get("detail")
        return cls(
            check=str(fields["check"]),
            location=str(fields["location"]),
            observed_at=_parse_instant(str(fields["observed_at"]), "observed_at"),
            ok=bool(fields["ok"]),
            latency_ms=float(latency_ms) if isinstance(latency_ms, int | float) else None,
            detail=str(detail) if detail is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """This runner was alive at ``at`` and beats every ``interval_ms``.

    The server uses it to tell "no runner was alive" (unknown) from "nothing changed".
    """

    runner_id: str
    location: str
    at: datetime
    interval_ms: int

    def to_json(self) -> dict[str, object]:
        """The form ``POST /api/v1/results`` takes (durations in seconds in the API)."""
        return {
            "runner": self.runner_id,
            "location": self.location,
            "at": _iso(self.at),
            "interval_seconds": self.interval_ms / 1000,
        }

    def to_spool_json(self) -> dict[str, object]:
        return {
            "runner_id": self.runner_id,
            "location": self.location,
            "at": _iso(self.at),
            "interval_ms": self.interval_ms,
        }

    @classmethod
    def from_spool_json(cls, fields: dict[str, object]) -> Heartbeat:
        interval_ms = fields["interval_ms"]
        if not isinstance(interval_ms, int):
            raise ValueError(f"heartbeat interval_ms {interval_ms!r} is not an integer")
        return cls(
            runner_id=str(fields["runner_id"]),
            location=str(fields["location"]),
            at=_parse_instant(str(fields["at"]), "heartbeat at"),
            interval_ms=interval_ms,
        )
