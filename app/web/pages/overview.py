"""The overview of every system, and the detail page of a system or a service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import KadouError
from app.evaluation import evaluate_period, report_document
from app.months import closed_document, latest_version_summary
from app.reports import charts
from app.reports.labels import version_caption
from app.sla import periods
from app.store.segments import TimelineHead, last_observations
from app.store.types import from_ms, to_ms
from app.web.pages.context import Page, month_period, reader_page, shift_month
from app.web.views import overview_cards, strip_legend

PARTIAL_HEADER = "x-kadou-partial"

router = APIRouter(include_in_schema=False)


def month_document(
    current: Page, period: periods.Period
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The report document of a month other than the running one, shared a minute, and
    the summary of its latest version (None while the month is open).

    A closed month shows its latest version as frozen (SLA-SEMANTICS §9), never a
    recomputation. The version is part of the cache key, so an amendment made by another
    process (the scheduled export, ``kadou month amend``) shows at once, with its caption.
    """
    with current.runtime.sessions() as db:
        summary = latest_version_summary(db, period.label, current.runtime.timezone)

    def compute() -> dict[str, Any]:
        with current.runtime.sessions() as db:
            closed = closed_document(db, period.label)
            if closed is not None:
                return closed
            result = evaluate_period(db, current.runtime.catalog, period, now=current.context.now())
        return report_document(current.runtime.catalog, result)

    key = period.label if summary is None else f"{period.label}/v{summary['version']}"
    return current.web.month_documents.get(key, compute), summary


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    refresh: int | None = None,
    month: str | None = None,
    current: Page = Depends(reader_page),
) -> Response:
    snapshot = current.context.current.get()
    live = not month or month == snapshot.period.label
    caption = None
    if live:
        period, document = snapshot.period, snapshot.document
    else:
        try:
            period = month_period(current, month)
        except KadouError as error:
            return current.error(422, str(error))
        if period.label > snapshot.period.label:
            return current.error(422, "month: " + current.t("month_in_future"))
        document, summary = month_document(current, period)
        caption = version_caption(summary, current.lang)
    previous_period = periods.parse_month(shift_month(period.label, -1), current.runtime.timezone)
    previous, _ = month_document(current, previous_period)
    cards = overview_cards(
        current.runtime.catalog,
        document,
        snapshot.states,
        snapshot.active_exclusions,
        previous=previous,
        live=live,
    )
    refresh_seconds = max(1, refresh) if refresh else current.web.refresh_seconds
    partial = request.headers.get(PARTIAL_HEADER) == "1"
    return current.render(
        "overview_live.html" if partial else "overview.html",
        cards=cards,
        snapshot=snapshot,
        refresh_seconds=refresh_seconds,
        month_label=period.label,
        live=live,
        previous_label=previous_period.label,
        next_month=shift_month(period.label, 1) if not live else None,
        this_month=snapshot.period.label,
        version_caption=caption,
    )


def month_caption(current: Page, month: str) -> str | None:
    """Which version of a closed month the page shows, and why it exists; None if open."""
    with current.runtime.sessions() as db:
        summary = latest_version_summary(db, month, current.runtime.timezone)
    return version_caption(summary, current.lang)


def _closed_figures(
    document: dict[str, Any], system_id: str, service_id: str | None
) -> dict[str, Any] | None:
    """A closed month's frozen document narrowed to one system or service, like
    ``report_document(system_id=…, service_id=…)`` would; None if it was not in the month."""
    services = [row for row in document["services"] if row["system"] == system_id]
    if service_id is None:
        systems = [row for row in document["systems"] if row["system"] == system_id]
    else:
        services = [row for row in services if row["service"] == service_id]
        systems = []
    if not services and not systems:
        return None
    exclusions = [
        row
        for row in document["exclusions"]
        if str(row["scope"]).partition("/")[0] == system_id
        and (service_id is None or str(row["scope"]).partition("/")[2] in ("", service_id))
    ]
    return {**document, "services": services, "systems": systems, "exclusions": exclusions}


def _probe_rows(current: Page, check_keys: list[str]) -> list[TimelineHead]:
    with current.runtime.sessions() as db:
        return last_observations(db, check_keys)


def _charts(
    current: Page, period: periods.Period, figures: dict[str, Any], evaluated_end: datetime
) -> tuple[str | None, str | None]:
    """The detail page's month strip and daily bars; none for a month not yet begun."""
    if evaluated_end <= period.start():
        return None, None
    # A running month is drawn whole: its days to come are left empty, not stretched away.
    drawn_until = evaluated_end.astimezone(current.zone) if evaluated_end < period.end() else None
    strip_svg = charts.month_strip(
        figures["strip"],
        period.start().isoformat(),
        period.end().isoformat(),
        current.runtime.timezone,
        "strip",
        current.lang,
        drawn_until=None if drawn_until is None else drawn_until.isoformat(),
    )
    if not figures["daily"]:
        return strip_svg, None
    last_date = (
        None
        if drawn_until is None
        else (drawn_until - timedelta(milliseconds=1)).date().isoformat()
    )
    daily_svg = charts.daily_bars(
        figures["daily"],
        figures["target"],
        figures["target_display"],
        "daily",
        current.lang,
        last_date=last_date,
    )
    return strip_svg, daily_svg


def _detail_page(
    current: Page, system_id: str, service_id: str | None, month: str | None
) -> Response:
    catalog = current.runtime.catalog
    try:
        system = catalog.system(system_id)
        service = catalog.service(system_id, service_id) if service_id else None
    except KeyError:
        return current.error(404, current.t("not_found") + f": {system_id}/{service_id or ''}")
    try:
        period = month_period(current, month)
    except KadouError as error:
        return current.error(422, str(error))
    now = current.context.now()
    with current.runtime.sessions() as db:
        closed = closed_document(db, period.label)
        frozen = None if closed is None else _closed_figures(closed, system_id, service_id)
        result = (
            None
            if frozen is not None
            else evaluate_period(db, catalog, period, now=now, system_ids=[system_id])
        )
    if frozen is not None:
        # A closed month shows its latest version as frozen, not today's recomputation.
        document = frozen
        evaluated_end = period.end()
    else:
        assert result is not None
        document = report_document(
            catalog, result, system_id=system_id, service_id=service_id, pictures=True
        )
        evaluated_end = from_ms(period.evaluated_end_ms(to_ms(result.cutoff)))
    if service_id is None:
        figures = document["systems"][0]
    else:
        figures = next(row for row in document["services"] if row["service"] == service_id)
    in_progress = evaluated_end < period.end()
    strip_svg, daily_svg = _charts(current, period, figures, evaluated_end)
    services = [] if service_id else document["services"]
    checks = [check.key for item in (service,) if item for check in item.checks] or [
        check.key for item in system.services for check in item.checks
    ]
    local_now = now.astimezone(current.zone)
    this_month = f"{local_now.year:04d}-{local_now.month:02d}"
    return current.render(
        "detail.html",
        system=system,
        service=service,
        period=period,
        figures=figures,
        services=services,
        strip_svg=strip_svg,
        legend=strip_legend(with_future=in_progress),
        daily_svg=daily_svg,
        in_progress=in_progress,
        evaluated_end=evaluated_end,
        exclusions=document["exclusions"],
        probes=_probe_rows(current, checks),
        blips=figures["blips"],
        version_caption=month_caption(current, period.label) if frozen is not None else None,
        previous_month=shift_month(period.label, -1),
        next_month=shift_month(period.label, 1) if period.label < this_month else None,
    )


@router.get("/systems/{system_id}", response_class=HTMLResponse)
def system_page(
    system_id: str, month: str | None = None, current: Page = Depends(reader_page)
) -> Response:
    return _detail_page(current, system_id, None, month)


@router.get("/systems/{system_id}/{service_id}", response_class=HTMLResponse)
def service_page(
    system_id: str, service_id: str, month: str | None = None, current: Page = Depends(reader_page)
) -> Response:
    return _detail_page(current, system_id, service_id, month)
