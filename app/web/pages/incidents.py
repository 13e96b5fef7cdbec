"""The incidents of a month, filtered by system, ongoing or recovery breached."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from app.errors import KadouError
from app.evaluation import evaluate_period, report_document
from app.web.pages.context import Page, month_period, reader_page
from app.web.views import incident_groups

router = APIRouter(include_in_schema=False)


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    month: str | None = None,
    system: str | None = None,
    ongoing: bool = False,
    breached: bool = False,
    current: Page = Depends(reader_page),
) -> Response:
    catalog = current.runtime.catalog
    system = system or None
    if system is not None and system not in [item.id for item in catalog.systems]:
        return current.error(422, f"system: {current.t('not_found')}: {system}")
    try:
        period = month_period(current, month)
    except KadouError as error:
        return current.error(422, str(error))
    with current.runtime.sessions() as db:
        result = evaluate_period(
            db, catalog, period, now=current.context.now(), system_ids=[system] if system else None
        )
    document = report_document(catalog, result, system_id=system)
    listed = incident_groups(document, ongoing=ongoing, breached=breached)
    return current.render(
        "incidents.html",
        period=period,
        incidents=listed,
        systems=catalog.systems,
        selected_system=system,
        ongoing=ongoing,
        breached=breached,
    )
