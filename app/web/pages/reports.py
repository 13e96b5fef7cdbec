"""The reports page and the monthly report download for a signed-in browser."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from app.errors import KadouError
from app.months import month_list, month_version_detail
from app.reports import labels as report_labels
from app.reports.service import monthly_document
from app.web.pages.context import Page, month_period, reader_page, shift_month

REPORT_MONTHS = 13

router = APIRouter(include_in_schema=False)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(current: Page = Depends(reader_page)) -> Response:
    from app.reports.render import FORMATS

    local = current.context.now().astimezone(current.zone)
    this_month = f"{local.year:04d}-{local.month:02d}"
    months = [shift_month(this_month, -offset) for offset in range(REPORT_MONTHS)]
    with current.runtime.sessions() as db:
        closed = {row["month"]: row for row in month_list(db, current.runtime.timezone)}
    # Every version of a closed month stays downloadable (SLA-SEMANTICS §9), newest first.
    versions = {month: list(range(row["version"], 0, -1)) for month, row in closed.items()}
    captions = {
        month: report_labels.version_caption(row, current.lang) for month, row in closed.items()
    }
    return current.render(
        "reports.html",
        months=months,
        formats=FORMATS,
        langs=report_labels.LANGS,
        versions=versions,
        captions=captions,
    )


@router.get("/reports/monthly")
def report_download(
    month: str,
    format: str = "pdf",
    lang: str = "ja",
    version: int | None = None,
    current: Page = Depends(reader_page),
) -> Response:
    """The monthly report file for a signed-in browser (the API needs a bearer token).

    The same document and renderer as ``kadou report`` and the API's report download: a
    closed month's latest version as frozen, or the ``version`` asked for."""
    from app.reports.render import FORMATS, content_type, file_name, render_monthly

    if format not in FORMATS:
        return current.error(422, f"format: use one of {', '.join(FORMATS)}")
    if lang not in report_labels.LANGS:
        return current.error(422, "lang: use ja or en")
    try:
        period = month_period(current, month)
    except KadouError as error:
        return current.error(422, str(error))
    with current.runtime.sessions() as db:
        if version is None:
            document = monthly_document(
                db, current.runtime.catalog, period, now=current.context.now()
            )
        else:
            try:
                document = month_version_detail(
                    db, period.label, version, current.runtime.timezone
                )["report"]
            except KadouError as error:
                return current.error(404, str(error))
    body = render_monthly(document, format, lang)
    return Response(
        body,
        media_type=content_type(format),
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(document, format, lang)}"'
        },
    )
