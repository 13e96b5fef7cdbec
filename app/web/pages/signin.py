"""Sign-in with a pasted token, sign-out, and the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.store.browser_sessions import end_sessions, session_generation
from app.store.db import transaction
from app.store.tokens import authenticate, hash_token
from app.web import i18n, sessions
from app.web.pages.context import Page, form_fields, page, safe_next

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/", current: Page = Depends(page)) -> Response:
    return current.render("login.html", next_path=safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(current: Page = Depends(page), fields: dict[str, str] = Depends(form_fields)) -> Response:
    next_path = safe_next(fields.get("next"))
    if not current.web.signer.check_csrf(current.session, fields.get("csrf_token")):
        return current.render(
            "login.html", status_code=403, next_path=next_path, error=current.t("csrf_failed")
        )
    throttle = current.web.login_throttle
    address = current.request.client.host if current.request.client else "unknown"
    wait_seconds = throttle.retry_after(address)
    if wait_seconds is not None:
        response = current.render(
            "login.html",
            status_code=429,
            next_path=next_path,
            error=current.t("login_throttled", seconds=wait_seconds),
        )
        response.headers["Retry-After"] = str(wait_seconds)
        return response
    secret = fields.get("token", "").strip()
    actor = None
    generation = None
    if secret:
        with current.runtime.sessions() as db:
            actor = authenticate(db, secret, touch=False)
            generation = session_generation(db, hash_token(secret))
    if actor is None or generation is None:
        throttle.refused(address)
        return current.render(
            "login.html", status_code=401, next_path=next_path, error=current.t("login_refused")
        )
    if not actor.can_read():
        return current.render(
            "login.html", status_code=403, next_path=next_path, error=current.t("login_prober")
        )
    signed_in_response = RedirectResponse(next_path, status_code=303)
    # A fresh sid on sign-in: nothing learnt about the anonymous session carries over.
    signed_in = sessions.new_session(hash_token(secret), generation)
    sessions.set_cookie(signed_in_response, current.request, current.web.signer.encode(signed_in))
    return signed_in_response


@router.post("/logout")
def logout(
    current: Page = Depends(page), fields: dict[str, str] = Depends(form_fields)
) -> Response:
    if not current.web.signer.check_csrf(current.session, fields.get("csrf_token")):
        return current.error(403, current.t("csrf_failed"))
    if current.session is not None and current.session.token_sha256 is not None:
        # Ends this token's sessions in every browser, not only this cookie.
        with transaction(current.runtime.sessions) as db:
            end_sessions(db, current.session.token_sha256)
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_cookie(response, current.request)
    return response


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        i18n.COOKIE, i18n.pick_lang(code), max_age=365 * 86400, samesite="lax", path="/"
    )
    return response
