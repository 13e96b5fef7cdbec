"""What every page handler gets about its request: who is signed in, which language,
which app; and the small helpers the page families share (forms, redirects, months).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from app.api.context import ApiContext
from app.current import DerivedCache
from app.errors import InvalidInput
from app.reports import labels as report_labels
from app.reports.labels import Lang
from app.runtime import Runtime
from app.sla import periods
from app.store.browser_sessions import session_actor
from app.store.tokens import Actor
from app.web import i18n, sessions
from app.web.throttle import LoginThrottle
from app.web.views import MonthDocuments, StatusRow


@dataclass
class WebState:
    runtime: Runtime
    signer: sessions.SessionSigner
    templates: Environment
    status_cache: DerivedCache[list[StatusRow]]
    refresh_seconds: int
    login_throttle: LoginThrottle
    month_documents: MonthDocuments
    # Used only when the app has no API context (the pages served without the API).
    own_context: ApiContext | None = None


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


async def on_login_required(request: Request, error: LoginRequired) -> Response:
    return RedirectResponse("/login?" + urlencode({"next": error.next_path}), status_code=303)


@dataclass
class Page:
    """Everything a handler needs about this request: who, which language, which app."""

    request: Request
    web: WebState
    context: ApiContext
    lang: Lang
    session: sessions.BrowserSession | None
    actor: Actor | None  # None: nobody signed in
    new_cookie: str | None = None

    @property
    def runtime(self) -> Runtime:
        return self.web.runtime

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.runtime.timezone)

    def t(self, key: str, **values: object) -> str:
        return i18n.text(key, self.lang, **values)

    def ensure_session(self) -> sessions.BrowserSession:
        """A session for the CSRF token of a form, created (anonymous) if there is none."""
        if self.session is None:
            self.session = sessions.new_session()
            self.new_cookie = self.web.signer.encode(self.session)
        return self.session

    def csrf_token(self) -> str:
        return self.web.signer.csrf_token(self.ensure_session())

    def local(self, iso_or_instant: str | datetime | None, seconds: bool = False) -> str:
        if iso_or_instant is None:
            return report_labels.label("ongoing", self.lang)
        instant = (
            datetime.fromisoformat(iso_or_instant)
            if isinstance(iso_or_instant, str)
            else iso_or_instant
        )
        return instant.astimezone(self.zone).strftime(
            "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
        )

    def duration(self, value: float | int | None) -> str:
        if value is None:
            return report_labels.label("not_applicable", self.lang)
        return report_labels.format_duration(value, self.lang)

    def coverage(self, value: float | None) -> str:
        if value is None:
            return report_labels.label("not_applicable", self.lang)
        # Truncated like every ratio shown (SLA-SEMANTICS §5), never rounded up.
        return report_labels.format_percent(report_labels.truncate_ratio(value, 2), 2)

    def kind(self, kind: str) -> str:
        """An exclusion kind in the words of the form and the definition (計画停止 /
        災害による停止), the same on every page."""
        return self.t(f"excluded_{kind}") if kind in ("planned", "disaster") else kind

    def scope(self, scope: str) -> str:
        """A system or service by its name in the page's language, e.g. マイナポータル ›
        お知らせ情報表示; the id itself when the catalog no longer has it."""
        system_id, _, service_id = scope.partition("/")
        catalog = self.runtime.catalog
        try:
            system = catalog.system(system_id)
            if not service_id:
                return system.name.pick(self.lang)
            service = catalog.service(system_id, service_id)
        except KeyError:
            return scope
        return f"{system.name.pick(self.lang)} › {service.name.pick(self.lang)}"

    def t_or(self, key: str, fallback: str) -> str:
        """The label, or ``fallback`` for a value the labels do not know (an audit entry
        written by a newer version, say)."""
        try:
            return self.t(key)
        except KeyError:
            return fallback

    def audit_json(self, entry: Any) -> str:
        return json.dumps(
            {"before": entry.before, "after": entry.after}, ensure_ascii=False, indent=2
        )

    def audit_value(self, name: str, value: Any) -> str:
        """A value of an audit entry as text: instants in the reporting time zone, kinds and
        scopes in words, non-ASCII as itself."""
        if value is None:
            return "—"
        if isinstance(value, bool):
            return self.t("yes") if value else self.t("no")
        if name == "kind" and isinstance(value, str):
            return self.kind(value)
        if name == "scope" and isinstance(value, str):
            return f"{self.scope(value)} ({value})"
        if name == "role" and isinstance(value, str):
            return self.t_or(f"role_{value}", value)
        if isinstance(value, str):
            try:
                instant = datetime.fromisoformat(value)
            except ValueError:
                return value
            if instant.tzinfo is not None and "T" in value:
                return self.local(instant, seconds=True)
            return value
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def month_heading(self, label: str) -> str:
        return report_labels.period_heading(label, self.lang)

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        body = self.web.templates.get_template(template).render(page=self, t=self.t, **values)
        response = HTMLResponse(body, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        if self.new_cookie is not None:
            sessions.set_cookie(response, self.request, self.new_cookie)
        return response

    def error(self, status_code: int, message: str) -> HTMLResponse:
        return self.render("error.html", status_code=status_code, message=message)


def _context(request: Request, web: WebState) -> ApiContext:
    context = getattr(request.app.state, "kadou", None)
    if isinstance(context, ApiContext):
        return context
    assert web.own_context is not None
    return web.own_context


def page(request: Request) -> Page:
    web: WebState = request.app.state.kadou_web
    signer = web.signer
    session = signer.decode(request.cookies.get(sessions.COOKIE))
    actor = None
    if session is not None and session.token_sha256 is not None:
        with web.runtime.sessions() as db:
            actor = session_actor(db, session.token_sha256, session.generation)
        if actor is None:  # revoked or signed out since: back to an anonymous session
            session = None
    return Page(
        request=request,
        web=web,
        context=_context(request, web),
        lang=i18n.pick_lang(request.cookies.get(i18n.COOKIE)),
        session=session,
        actor=actor,
    )


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def reader_page(request: Request, current: Page = Depends(page)) -> Page:
    """A page that reads: a signed-in reader, or anyone when KADOU_PUBLIC_READ=true."""
    if current.actor is not None and current.actor.can_read():
        return current
    if current.runtime.settings.public_read:
        return current
    raise LoginRequired(_here(request))


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body (what every form here posts), last value of each field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[-1] for name, values in parse_qs(body, keep_blank_values=True).items()}


def safe_next(target: str | None) -> str:
    """Only a path on this site, never an absolute or scheme-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def month_period(current: Page, month: str | None) -> periods.Period:
    if month:
        try:
            return periods.parse_month(month, current.runtime.timezone)
        except ValueError as error:
            raise InvalidInput(str(error), field="month") from None
    local = current.context.now().astimezone(current.zone)
    return periods.month(local.year, local.month, current.runtime.timezone)


def shift_month(label: str, months: int) -> str:
    year, month = (int(part) for part in label.split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
