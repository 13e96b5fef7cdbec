"""One incidents listing for the API and the pages: order and filters."""

from __future__ import annotations

from typing import Any

from app.incidents import incident_listing


def incident(start: str, *, ongoing: bool = False, met: bool | None = True) -> dict[str, Any]:
    return {
        "start": start,
        "end": None if ongoing else start,
        "ongoing": ongoing,
        "duration_seconds": 600,
        "downtime_seconds": 600,
        "recovery_target_seconds": None if met is None else 28_800,
        "recovery_met": None if ongoing else met,
    }


def document() -> dict[str, Any]:
    return {
        "services": [
            {"system": "jpki", "service": "main", "incidents": [
                incident("2026-10-04T02:30:00+09:00", met=False),
                incident("2026-10-31T23:50:00+09:00", ongoing=True),
            ]},
            # 01:30 in London is 10:30 in Tokyo: after 02:30 JST, though it sorts first as text.
            {"system": "card-management", "service": "main", "incidents": [
                incident("2026-10-04T01:30:00+01:00", met=None),
            ]},
        ],
        "systems": [
            {"system": "jpki", "incidents": [incident("2026-10-04T02:30:00+09:00", met=False)]},
        ],
    }  # fmt: skip


def test_every_incident_in_time_order_systems_with_no_service() -> None:
    listed = incident_listing(document())
    assert [(item["start"], item["system"], item["service"]) for item in listed] == [
        ("2026-10-04T02:30:00+09:00", "jpki", None),
        ("2026-10-04T02:30:00+09:00", "jpki", "main"),
        ("2026-10-04T01:30:00+01:00", "card-management", "main"),
        ("2026-10-31T23:50:00+09:00", "jpki", "main"),
    ]
    assert [item["recovery_seconds"] for item in listed] == [600, 600, 600, None]


def test_filters_ongoing_and_breached() -> None:
    ongoing = incident_listing(document(), ongoing_only=True)
    assert [(item["system"], item["ongoing"]) for item in ongoing] == [("jpki", True)]
    breached = incident_listing(document(), breached_only=True)
    assert [(item["system"], item["service"]) for item in breached] == [
        ("jpki", None),
        ("jpki", "main"),
    ]
