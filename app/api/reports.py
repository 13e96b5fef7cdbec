"""``GET /reports/monthly`` and ``/reports/fiscal-year``: the report files, for download."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.auth import reader
from app.api.context import ApiContext, api_context
from app.api.params import resolve_period
from app.api.problems import responses
from app.errors import InvalidInput
from app.reports.render import FORMATS, content_type
from app.reports.service import RenderedReport, ReportKind, build_report
from app.store.tokens import Actor

router = APIRouter(tags=["reports"])

FORMAT = Query("pdf", max_length=16, description=f"One of {', '.join(FORMATS)}")
LANG = Query("ja", max_length=8, description="ja or en")
FILE_RESPONSES = {
    200: {
        "content": {content_type(fmt).split(";")[0]: {} for fmt in FORMATS},
        "description": "The report file, as an attachment",
    },
    **responses(),
}


def check_format_and_lang(fmt: str, lang: str) -> None:
    if fmt not in FORMATS:
        raise InvalidInput(
            f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", field="format"
        )
    if lang not in ("ja", "en"):
        raise InvalidInput(f"unknown language {lang!r}; use ja or en", field="lang")


def attachment(body: bytes, name: str, media_type: str) -> Response:
    # RFC 6266: an ASCII name plus the UTF-8 form, though Kadou's names are ASCII anyway.
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type=media_type, headers={"Content-Disposition": disposition})


def _attachment(report: RenderedReport) -> Response:
    return attachment(report.body, report.file_name, report.content_type)


async def _render(
    context: ApiContext, kind: ReportKind, label: str, fmt: str, lang: str
) -> Response:
    runtime = context.runtime
    now = context.now()

    def build() -> RenderedReport:
        with runtime.sessions() as session:
            return build_report(
                session,
                runtime.catalog,
                kind=kind,
                label=label,
                fmt=fmt,
                lang=lang,
                timezone=runtime.timezone,
                now=now,
            )

    # Rendering a PDF takes seconds: keep it off the event loop.
    return _attachment(await run_in_threadpool(build))


@router.get(
    "/reports/monthly",
    summary="The monthly SLA report of every system and service, as a file",
    response_class=Response,
    responses=FILE_RESPONSES,
)
async def monthly_report(
    month: str | None = Query(
        None, max_length=16, description="YYYY-MM; default: this month to date"
    ),
    format: str = FORMAT,
    lang: str = LANG,
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> Response:
    check_format_and_lang(format, lang)
    period = resolve_period(
        context.runtime.timezone, context.now(), month=month, default_current_month=True
    )
    return await _render(context, "monthly", period.label, format, lang)


@router.get(
    "/reports/fiscal-year",
    summary="The fiscal-year sheet (April to March, each month and the year), as a file",
    response_class=Response,
    responses=FILE_RESPONSES,
)
async def fiscal_year_report(
    year: str = Query(
        ...,
        max_length=16,
        description="Fiscal year: 2026 or FY2026 (April 2026 to March 2027)",
    ),
    format: str = FORMAT,
    lang: str = LANG,
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> Response:
    check_format_and_lang(format, lang)
    if not year.strip():
        raise InvalidInput("give the fiscal year, e.g. year=2026 or year=FY2026", field="year")
    try:
        period = resolve_period(context.runtime.timezone, context.now(), fiscal_year=year)
    except InvalidInput as error:  # the shared parser names it fiscal_year; here it is year
        raise InvalidInput(error.message, field="year") from None
    return await _render(context, "fiscal_year", str(period.start().year), format, lang)
