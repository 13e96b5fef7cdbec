"""The audit log, newest first, a page at a time."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from app.store import audit
from app.web.pages.context import Page, reader_page
from app.web.views import AuditItem, audit_changes

AUDIT_PAGE_SIZE = 100

router = APIRouter(include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    page_number: int = 1, entity: str | None = None, current: Page = Depends(reader_page)
) -> Response:
    page_number = max(page_number, 1)
    with current.runtime.sessions() as db:
        entries = audit.entries(
            db,
            entity=entity or None,
            limit=AUDIT_PAGE_SIZE + 1,
            offset=(page_number - 1) * AUDIT_PAGE_SIZE,
        )
    return current.render(
        "audit.html",
        entries=[
            AuditItem(entry, audit_changes(entry.before, entry.after))
            for entry in entries[:AUDIT_PAGE_SIZE]
        ],
        has_older=len(entries) > AUDIT_PAGE_SIZE,
        page_number=page_number,
        entity=entity or "",
    )
