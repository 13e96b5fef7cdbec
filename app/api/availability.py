"""``GET /availability`` and ``GET /incidents``: the report, exactly as ``kadou report`` has it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from app.api.auth import reader
from app.api.context import ApiContext, api_context
from app.api.params import check_scope, resolve_period
from app.api.problems import responses
from app.evaluation import evaluate_period, period_json, report_document
from app.incidents import incident_listing
from app.months import closed_document, year_with_closed_months
from app.store.tokens import Actor

router = APIRouter(tags=["availability"])

MONTH = Query(None, max_length=16, description="YYYY-MM, e.g. 2026-10", examples=["2026-10"])
FISCAL_YEAR = Query(None, max_length=16, description="Fiscal year (April to March): 2026 or FY2026")
START = Query(
    None, max_length=64, description="ISO 8601; without offset the reporting time zone applies"
)
END = Query(None, max_length=64, description="ISO 8601, exclusive; with start")
SYSTEM = Query(None, max_length=100, description="Only this system id")
SERVICE = Query(None, max_length=100, description="Only this service id (with system)")


@router.get(
    "/availability",
    summary="Availability for a month, a fiscal year or a range (the JSON of `kadou report`)",
    responses=responses(404),
)
def availability(
    month: str | None = MONTH,
    fiscal_year: str | None = FISCAL_YEAR,
    start: str | None = START,
    end: str | None = END,
    system: str | None = SYSTEM,
    service: str | None = SERVICE,
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> dict[str, Any]:
    """Exactly one of `month`, `fiscal_year` or `start` and `end`. A period that has not
    ended is computed up to now. The body is the document `kadou report --format json`
    prints for the same period and scope."""
    runtime = context.runtime
    now = context.now()
    period = resolve_period(
        runtime.timezone, now, month=month, fiscal_year=fiscal_year, start=start, end=end
    )
    check_scope(runtime.catalog, system, service)
    with runtime.sessions() as session:
        # A closed month answers with its latest version as frozen (SLA-SEMANTICS §9).
        closed = (
            closed_document(session, period.label)
            if period.kind == "month" and system is None
            else None
        )
        if closed is not None:
            return closed
        result = evaluate_period(
            session, runtime.catalog, period, now=now, system_ids=[system] if system else None
        )
        # A fiscal year's figures are made of its closed months' versions (§9).
        return year_with_closed_months(
            session,
            result,
            report_document(runtime.catalog, result, system_id=system, service_id=service),
        )


@router.get(
    "/incidents",
    summary="Incidents overlapping a month, with recovery time and recovery-SLA status",
    responses=responses(404),
)
def incidents(
    month: str | None = Query(None, max_length=16, description="YYYY-MM; default: this month"),
    system: str | None = SYSTEM,
    service: str | None = SERVICE,
    open: bool = Query(False, description="Only ongoing incidents"),
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> dict[str, Any]:
    """Service incidents, and system incidents (`service` null) unless a service is named.
    `recovery_seconds` is the wall-clock recovery time (null while ongoing);
    `recovery_met` is null when no recovery target applies."""
    runtime = context.runtime
    now = context.now()
    period = resolve_period(runtime.timezone, now, month=month, default_current_month=True)
    check_scope(runtime.catalog, system, service)
    with runtime.sessions() as session:
        result = evaluate_period(
            session, runtime.catalog, period, now=now, system_ids=[system] if system else None
        )
    document = report_document(runtime.catalog, result, system_id=system, service_id=service)
    listed = incident_listing(document, ongoing_only=open)
    return {
        "period": period_json(period),
        "data_cutoff": document["data_cutoff"],
        "incidents": listed,
    }
