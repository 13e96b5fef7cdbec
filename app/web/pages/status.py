"""The public status page: each system's state now and over the last days."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from app.web.pages.context import Page, page
from app.web.views import STATUS_DAYS, status_rows

router = APIRouter(include_in_schema=False)


@router.get("/status", response_class=HTMLResponse)
def status_page(current: Page = Depends(page)) -> Response:
    snapshot = current.context.current.get()
    rows = current.web.status_cache.get(
        lambda: status_rows(current.runtime, current.context.now(), snapshot.states)
    )
    # The current state may be fresher than the cached days; the cached rows are shared by
    # concurrent requests, so each request shows its own copies.
    rows = [replace(row, state=snapshot.states.get((row.system, None), "unknown")) for row in rows]
    return current.render("status.html", rows=rows, days=STATUS_DAYS, snapshot=snapshot)
