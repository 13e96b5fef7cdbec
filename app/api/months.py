"""``GET /months``: closed months, each version of their reports, and evidence bundles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from app.api.auth import reader
from app.api.context import ApiContext, api_context
from app.api.problems import responses
from app.api.reports import attachment, check_format_and_lang
from app.evidence import build_bundle
from app.months import month_list, month_version_detail, parse_month_label
from app.reports.render import FORMATS, content_type, file_name, render_monthly
from app.store.tokens import Actor

router = APIRouter(tags=["months"])

MONTH = Path(..., max_length=16, description="YYYY-MM, e.g. 2026-10")


@router.get(
    "/months",
    summary="Every closed month with its latest version (a month not listed is open)",
    responses=responses(),
)
def months(
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> dict[str, Any]:
    with context.runtime.sessions() as session:
        return {"months": month_list(session, context.runtime.timezone)}


@router.get(
    "/months/{month}/versions/{version}",
    summary="One version of a closed month: its report, what moved and why",
    description=(
        "Without `format`, the version as JSON: its report, the figures that moved and the"
        " audit entries that caused it. With `format`, that version's report as a file"
        " (`kadou-2026-10-ja-v2.pdf`), exactly as it was frozen."
    ),
    responses={
        200: {
            "content": {
                "application/json": {},
                **{content_type(fmt).split(";")[0]: {} for fmt in FORMATS if fmt != "json"},
            },
            "description": "The version (JSON), or its report file as an attachment",
        },
        **responses(404),
    },
)
async def month_version(
    month: str = MONTH,
    version: int = Path(..., ge=1, le=1_000_000, description="1 is the closing"),
    format: str | None = Query(
        None,
        max_length=16,
        description=f"The version's report as a file: one of {', '.join(FORMATS)}",
    ),
    lang: str = Query("ja", max_length=8, description="ja or en (with format)"),
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> Any:
    timezone = context.runtime.timezone
    parse_month_label(month, timezone)
    if format is not None:
        check_format_and_lang(format, lang)

    def load() -> dict[str, Any]:
        with context.runtime.sessions() as session:
            return month_version_detail(session, month, version, timezone)

    detail = await run_in_threadpool(load)
    if format is None:
        return detail
    chosen = format
    document = detail["report"]
    # Rendering a PDF takes seconds: keep it off the event loop.
    body = await run_in_threadpool(lambda: render_monthly(document, chosen, lang))
    return attachment(body, file_name(document, chosen, lang), content_type(chosen))


@router.get(
    "/months/{month}/evidence",
    summary="The month's evidence bundle (zip): catalog, data, windows, reports, manifest",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The bundle, as an attachment"},
        **responses(),
    },
)
async def month_evidence(
    month: str = MONTH,
    segments: bool = Query(False, description="Check segments instead of raw observations"),
    context: ApiContext = Depends(api_context),
    _actor: Actor = Depends(reader),
) -> Response:
    runtime = context.runtime
    period = parse_month_label(month, runtime.timezone)
    now = context.now()

    def build() -> bytes:
        with runtime.sessions() as session:
            return build_bundle(
                session, runtime.catalog, period.label, runtime.timezone, segments=segments, now=now
            )

    # A month of observations takes seconds to read and compress: off the event loop.
    body = await run_in_threadpool(build)
    name = f"evidence-{period.label}.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
