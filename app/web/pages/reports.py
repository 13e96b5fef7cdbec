"""The reports page and the monthly report download for a signed-in browser."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from app.errors import KadouError
from app.evaluation import evaluate_period, report_document
from app.reports import labels as report_labels
from app.web.pages.context import Page, month_period, reader_page, shift_month

REPORT_MONTHS = 13

router = APIRouter(include_in_schema=False)


@router.get("/reports", response_class=HTMLResponse)
def reports_page(current: Page = Depends(reader_page)) -> Response:
    from app.reports.render import FORMATS

    local = current.context.now().astimezone(current.zone)
    this_month = f"{local.year:04d}-{local.month:02d}"
    months = [shift_month(this_month, -offset) for offset in range(REPORT_MONTHS)]
    return current.render("reports.html", months=months, formats=FORMATS, langs=report_labels.LANGS)


@router.get("/reports/monthly")
def report_download(
    month: str, format: str = "pdf", lang: str = "ja", current: Page = Depends(reader_page)
) -> Response:
    """The monthly report file for a signed-in browser (the API needs a bearer token).

    The same document and renderer as ``kadou report`` and the API's report download."""
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
        result = evaluate_period(db, current.runtime.catalog, period, now=current.context.now())
    document = report_document(current.runtime.catalog, result)
    body = render_monthly(document, format, lang)
    return Response(
        body,
        media_type=content_type(format),
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(document, format, lang)}"'
        },
    )
