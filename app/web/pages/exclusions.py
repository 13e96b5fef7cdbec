"""Exclusion windows: the list, and the form that registers a planned or disaster window."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.errors import Forbidden, InvalidInput, KadouError, NotFound
from app.evaluation import exclusion_json
from app.instants import parse_instant
from app.store import audit
from app.store.db import transaction
from app.store.exclusions import (
    ExclusionRequest,
    add_exclusion,
    list_exclusions,
    remove_exclusion,
    update_exclusion,
)
from app.store.types import from_ms, to_ms
from app.web.pages.context import Page, form_fields, reader_page

router = APIRouter(include_in_schema=False)


def _scopes(current: Page) -> list[tuple[str, str]]:
    scopes = []
    for system in current.runtime.catalog.systems:
        scopes.append((system.id, current.scope(system.id)))
        for service in system.services:
            key = f"{system.id}/{service.id}"
            scopes.append((key, current.scope(key)))
    return scopes


def _exclusions_page(
    current: Page,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: int | None = None,
    changed: tuple[str, int] | None = None,
    change_errors: dict[str, Any] | None = None,
) -> Response:
    now = current.context.now()
    with current.runtime.sessions() as db:
        rows = [
            {**exclusion_json(row, current.zone), "running": row.starts_at <= now < row.ends_at}
            for row in list_exclusions(db, start=from_ms(to_ms(now) - 90 * 86_400_000))
        ]
        created_entry = None
        if created is not None:
            created_entry = next(
                (
                    entry
                    for entry in audit.entries(db, entity="exclusion", limit=50)
                    if entry.entity_id == str(created)
                ),
                None,
            )
    actor = current.actor
    return current.render(
        "exclusions.html",
        status_code=status_code,
        rows=rows,
        scopes=_scopes(current),
        can_register=actor is not None and actor.can_manage_planned(),
        is_admin=actor is not None and actor.is_admin(),
        form=form or {"kind": "planned"},
        errors=errors or {},
        created=created,
        created_entry=created_entry,
        manage=actor is not None and actor.is_admin(),
        changed=changed,
        change_errors=change_errors,
    )


@router.get("/exclusions", response_class=HTMLResponse)
def exclusions_page(
    created: int | None = None,
    ended: int | None = None,
    removed: int | None = None,
    current: Page = Depends(reader_page),
) -> Response:
    changed = ("ended", ended) if ended else ("removed", removed) if removed else None
    return _exclusions_page(current, created=created, changed=changed)


@router.post("/exclusions", response_class=HTMLResponse)
def register_exclusion(
    current: Page = Depends(reader_page), fields: dict[str, str] = Depends(form_fields)
) -> Response:
    actor = current.actor
    if actor is None or not actor.can_manage_planned():
        return current.error(403, current.t("viewer_cannot_register"))
    if not current.web.signer.check_csrf(current.session, fields.get("csrf_token")):
        return current.error(403, current.t("csrf_failed"))
    try:
        request = ExclusionRequest(
            scope=fields.get("scope", ""),
            kind=fields.get("kind", ""),
            starts_at=parse_instant(fields.get("start", ""), "start", current.zone),
            ends_at=parse_instant(fields.get("end", ""), "end", current.zone),
            reason=fields.get("reason", ""),
            retroactive=fields.get("retroactive") == "on",
        )
        with transaction(current.runtime.sessions) as db:
            row = add_exclusion(
                db, current.runtime.catalog, request, actor, now=current.context.now()
            )
            created = row.id
    except KadouError as error:
        field = error.field or "form"
        status_code = 403 if isinstance(error, Forbidden) else 422
        return _exclusions_page(
            current,
            status_code=status_code,
            form=fields,
            errors={field: error.localized(current.lang)},
        )
    # The window changes figures: drop cached snapshots so the next page shows it.
    current.context.current.invalidate()
    current.web.status_cache.invalidate()
    current.web.month_documents.invalidate()
    return RedirectResponse(f"/exclusions?created={created}", status_code=303)


@router.post("/exclusions/{exclusion_id}/change", response_class=HTMLResponse)
def change_exclusion(
    exclusion_id: int,
    current: Page = Depends(reader_page),
    fields: dict[str, str] = Depends(form_fields),
) -> Response:
    """End a running window now, or remove a window, with a reason (as the API allows:
    both rewrite figures already shown, so both are an admin's, and both are audited)."""
    actor = current.actor
    if actor is None or not actor.is_admin():
        return current.error(403, current.t("only_admin_changes"))
    if not current.web.signer.check_csrf(current.session, fields.get("csrf_token")):
        return current.error(403, current.t("csrf_failed"))
    action = fields.get("action", "")
    reason = fields.get("reason", "")
    now = current.context.now()
    try:
        if action not in ("end", "remove"):
            raise InvalidInput(
                "choose end or remove", field="action", ja="終了か削除を選んでください"
            )
        if not reason.strip():
            raise InvalidInput(
                "say why (it goes to the audit log)",
                field="reason",
                ja="理由を入力してください（監査ログに残ります）",
            )
        with transaction(current.runtime.sessions) as db:
            if action == "end":
                update_exclusion(
                    db,
                    current.runtime.catalog,
                    exclusion_id,
                    actor=actor,
                    reason=reason,
                    ends_at=now,
                    now=now,
                )
            else:
                remove_exclusion(db, exclusion_id, actor=actor, reason=reason, now=now)
    except KadouError as error:
        status_code = (
            403 if isinstance(error, Forbidden) else 404 if isinstance(error, NotFound) else 422
        )
        field = current.t_or(f"field_{error.field}", error.field or "")
        message = (
            f"{field}: {error.localized(current.lang)}" if field else error.localized(current.lang)
        )
        return _exclusions_page(
            current,
            status_code=status_code,
            change_errors={"id": exclusion_id, "message": message},
        )
    current.context.current.invalidate()
    current.web.status_cache.invalidate()
    current.web.month_documents.invalidate()
    done = "ended" if action == "end" else "removed"
    return RedirectResponse(f"/exclusions?{done}={exclusion_id}#list-heading", status_code=303)
