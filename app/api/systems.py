"""``GET /systems`` and ``/systems/{system}``: the catalog with the current state.

Only what a reader needs is shown of a check: its type, schedule and target (URL without
credentials or query string, or host and port). Headers, basic auth and anything else
that may hold a secret never leave the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.auth import reader
from app.api.context import ApiContext, api_context, api_context_async
from app.api.params import check_scope
from app.api.problems import responses
from app.catalog.hours import format_hours
from app.catalog.model import Catalog, HttpCheck, Service, System, TcpCheck, TlsCheck
from app.current import UNKNOWN, CurrentState
from app.evaluation import period_json, seconds, target_display
from app.store.tokens import Actor

router = APIRouter(tags=["systems"])

# The month-to-date figures repeated on each service (incidents have their own endpoint).
FIGURE_FIELDS = (
    "scheduled_seconds",
    "excluded_seconds",
    "downtime_seconds",
    "unknown_seconds",
    "coverage",
    "availability",
    "availability_display",
    "met",
    "error_budget_seconds",
    "error_budget_remaining_seconds",
    "insufficient_data",
    "blips",
)


def public_url(url: str) -> str:
    """The URL without user:password and query string, which may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _check_json(
    check: HttpCheck | TcpCheck | TlsCheck, state: CurrentState, zone: ZoneInfo
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": check.id,
        "key": check.key,
        "type": check.type,
        "interval_seconds": seconds(check.interval_ms),
        "timeout_seconds": seconds(check.timeout_ms),
        "confirm": check.confirm,
        "stale_after_seconds": seconds(check.stale_after_ms),
    }
    if isinstance(check, HttpCheck):
        document["url"] = public_url(check.url)
        document["method"] = check.method
    else:
        document["host"] = check.host
        document["port"] = check.port
        if isinstance(check, TlsCheck):
            document["server_name"] = check.server_name
            document["min_days_left"] = check.min_days_left
    locations = []
    for (key, location), last in sorted(state.last_observations.items()):
        if key != check.key:
            continue
        locations.append(
            {
                "location": location,
                "state": state.check_states.get((key, location), UNKNOWN),
                "last_observed_at": last.observed_at.astimezone(zone).isoformat(),
                "last_ok": last.ok,
                "last_detail": last.detail,
                "last_latency_ms": last.latency_ms,
            }
        )
    document["locations"] = locations
    return document


def _open_incidents(figures: dict[str, Any]) -> int:
    return sum(1 for incident in figures["incidents"] if incident["ongoing"])


def _service_json(
    catalog: Catalog, system: System, service: Service, state: CurrentState, zone: ZoneInfo
) -> dict[str, Any]:
    figures = state.figures(system.id, service.id)
    return {
        "id": service.id,
        "name": service.name.model_dump(),
        "target": float(service.target),
        "target_display": target_display(service.target),
        "core": service.core,
        "quorum": service.quorum,
        "hours": format_hours(service.hours),
        "unknown_policy": service.unknown_policy or catalog.unknown_policy,
        "recovery_target_seconds": (
            None if service.recovery_target_ms is None else seconds(service.recovery_target_ms)
        ),
        "state": state.states.get((system.id, service.id), UNKNOWN),
        "locations": [
            {"location": location, "state": location_state}
            for (system_id, service_id, location), location_state in sorted(
                state.location_states.items()
            )
            if system_id == system.id and service_id == service.id
        ],
        "month_to_date": {
            **{name: figures[name] for name in FIGURE_FIELDS},
            "open_incidents": _open_incidents(figures),
        },
        "checks": [_check_json(check, state, zone) for check in service.checks],
    }


def system_json(
    catalog: Catalog, system: System, state: CurrentState, zone: ZoneInfo
) -> dict[str, Any]:
    figures = state.figures(system.id, None)
    return {
        "id": system.id,
        "name": system.name.model_dump(),
        "target": float(system.target),
        "target_display": target_display(system.target),
        "recovery_target_seconds": (
            None if system.recovery_target_ms is None else seconds(system.recovery_target_ms)
        ),
        "state": state.states.get((system.id, None), UNKNOWN),
        "month_to_date": {
            **{name: figures[name] for name in FIGURE_FIELDS},
            "open_incidents": _open_incidents(figures),
        },
        "services": [
            _service_json(catalog, system, service, state, zone) for service in system.services
        ],
    }


def _envelope(state: CurrentState, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "period": period_json(state.period),
        "data_cutoff": state.document["data_cutoff"],
        "evaluated_at": state.now.astimezone(zone).isoformat(),
    }


@dataclass(frozen=True)
class _Encoded:
    """The body of ``GET /systems`` for one snapshot of one catalog in one time zone."""

    state: CurrentState
    catalog: Catalog
    zone: str
    body: bytes


# The last body built: every reader of the same snapshot gets the same bytes, so building
# and encoding the document (most of a request's cost) happens once per snapshot.
_last_systems: _Encoded | None = None


def _systems_body(context: ApiContext, state: CurrentState) -> bytes:
    global _last_systems
    catalog = context.runtime.catalog
    zone_name = context.runtime.timezone
    cached = _last_systems
    if (
        cached is not None
        and cached.state is state
        and cached.catalog is catalog
        and cached.zone == zone_name
    ):
        return cached.body
    zone = context.zone
    document = {
        **_envelope(state, zone),
        "systems": [system_json(catalog, system, state, zone) for system in catalog.systems],
    }
    # Encoded as FastAPI would encode the returned dict, byte for byte.
    body = bytes(JSONResponse(jsonable_encoder(document)).body)
    _last_systems = _Encoded(state, catalog, zone_name, body)
    return body


def _systems_response(context: ApiContext) -> Response:
    return Response(_systems_body(context, context.current.get()), media_type="application/json")


@router.get(
    "/systems",
    summary="Every system and service with its current state and month-to-date figures",
    responses=responses(),
    # The schema of the document the cached body holds (the route returns it pre-encoded).
    response_model=dict[str, Any],
)
async def list_systems(
    context: ApiContext = Depends(api_context_async), _actor: Actor = Depends(reader)
) -> Response:
    # On the event loop while the snapshot is fresh and its body built: no thread-pool hop,
    # no database, no encoding. Otherwise (a new snapshot to compute or encode) on the pool.
    state = context.current.fresh()
    if state is not None:
        cached = _last_systems
        if cached is not None and cached.state is state:
            return Response(_systems_body(context, state), media_type="application/json")
    return await run_in_threadpool(_systems_response, context)


@router.get(
    "/systems/{system}",
    summary="One system with its services, checks and current state",
    responses=responses(404),
)
def get_system(
    system: str, context: ApiContext = Depends(api_context), _actor: Actor = Depends(reader)
) -> dict[str, Any]:
    catalog = context.runtime.catalog
    check_scope(catalog, system, None)
    state = context.current.get()
    zone = context.zone
    return {
        **_envelope(state, zone),
        **system_json(catalog, catalog.system(system), state, zone),
    }
