"""The incidents of a report, as one list: what ``GET /api/v1/incidents`` and the
incidents page both show.

An incident is computed once, by the engine, per service and per system; the report
document carries each under its row. This flattens them into one list (a system's own
incidents with ``service`` None), in time order, filtered the same way for every surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def incident_listing(
    document: Mapping[str, Any], *, ongoing_only: bool = False, breached_only: bool = False
) -> list[dict[str, Any]]:
    """Every incident of ``document`` (a ``report_document``), oldest first.

    Each item is the incident's fields plus ``system``, ``service`` and
    ``recovery_seconds`` (the wall-clock recovery time; None while ongoing).
    ``ongoing_only`` keeps the incidents still open; ``breached_only`` those that missed
    their recovery target.
    """
    rows = [(row, row["service"]) for row in document["services"]]
    rows += [(row, None) for row in document["systems"]]
    listed: list[dict[str, Any]] = []
    for row, service_id in rows:
        for incident in row["incidents"]:
            if ongoing_only and not incident["ongoing"]:
                continue
            if breached_only and incident["recovery_met"] is not False:
                continue
            listed.append(
                {
                    "system": row["system"],
                    "service": service_id,
                    **incident,
                    "recovery_seconds": (
                        None if incident["ongoing"] else incident["duration_seconds"]
                    ),
                }
            )
    # By instant, not by text: offsets may differ across a daylight-saving change.
    listed.sort(
        key=lambda item: (
            datetime.fromisoformat(item["start"]),
            item["system"],
            item["service"] or "",
        )
    )
    return listed
