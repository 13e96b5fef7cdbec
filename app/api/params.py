"""Query parameters shared by several routes: periods, scopes, times in the reporting zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.catalog.model import Catalog
from app.errors import InvalidInput, NotFound
from app.instants import parse_instant
from app.sla import periods
from app.store.types import to_ms


def aware(value: datetime, zone: ZoneInfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def resolve_period(
    tz: str,
    now: datetime,
    *,
    month: str | None = None,
    fiscal_year: str | None = None,
    start: str | None = None,
    end: str | None = None,
    default_current_month: bool = False,
) -> periods.Period:
    """Exactly one of month, fiscal_year, or start and end together."""
    given = [name for name, value in (("month", month), ("fiscal_year", fiscal_year)) if value]
    if start or end:
        given.append("start")
    if len(given) > 1:
        raise InvalidInput(
            f"give only one of month, fiscal_year or start/end (got {', '.join(given)})",
            field=given[1] if given[1] != "start" else "start",
        )
    zone = ZoneInfo(tz)
    try:
        if month:
            return periods.parse_month(month, tz)
        if fiscal_year:
            return periods.parse_fiscal_year(fiscal_year, tz)
    except ValueError as error:
        raise InvalidInput(str(error), field="month" if month else "fiscal_year") from None
    if start or end:
        if not start or not end:
            raise InvalidInput(
                "a range needs both start and end", field="end" if start else "start"
            )
        start_at = parse_instant(start, "start", zone)
        end_at = parse_instant(end, "end", zone)
        if end_at <= start_at:
            raise InvalidInput("the end must be after the start", field="end")
        return periods.custom_range(to_ms(start_at), to_ms(end_at), tz)
    if default_current_month:
        local = now.astimezone(zone)
        return periods.month(local.year, local.month, tz)
    raise InvalidInput(
        "say which period: month=YYYY-MM, fiscal_year=YYYY, or start=..&end=.. (ISO 8601)",
        field="month",
    )


def check_scope(catalog: Catalog, system: str | None, service: str | None) -> None:
    """404 for an unknown system or service, naming the valid choices."""
    if service is not None and system is None:
        raise InvalidInput(
            "service needs system (services are named within a system)", field="system"
        )
    if system is None:
        return
    system_ids = [item.id for item in catalog.systems]
    if system not in system_ids:
        raise NotFound(
            f"unknown system {system!r}; choose one of {', '.join(system_ids)}", field="system"
        )
    if service is None:
        return
    service_ids = [item.id for item in catalog.system(system).services]
    if service not in service_ids:
        raise NotFound(
            f"unknown service {service!r} of {system}; choose one of {', '.join(service_ids)}",
            field="service",
        )


_KNOWN_QUERY: dict[int, frozenset[str]] = {}


def _declared_query(dependant: Dependant) -> Iterator[str]:
    for param in dependant.query_params:
        yield param.alias
    for dependency in dependant.dependencies:
        yield from _declared_query(dependency)


def _query_names(route: APIRoute) -> frozenset[str]:
    names = _KNOWN_QUERY.get(id(route))
    if names is None:
        names = frozenset(_declared_query(route.dependant))
        _KNOWN_QUERY[id(route)] = names
    return names


async def reject_unknown_query(request: Request) -> None:
    """A 422 for a query parameter the route does not have: a misspelt ``?montn=2026-10``
    would otherwise be ignored and answer for another period than the one asked.

    Async though it awaits nothing: FastAPI runs a plain function dependency on the thread
    pool, a hop that cost more than the check itself on every API request.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route)
    for name in request.query_params:
        if name not in known:
            choices = ", ".join(sorted(known)) or "none"
            raise InvalidInput(
                f"unknown query parameter {name!r}; this endpoint takes: {choices}",
                field=name or "query",
            )
