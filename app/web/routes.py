"""The browser pages: server-rendered Jinja2, a little vanilla JS, Japanese and English.

``include_web(app, runtime)`` adds them to the Kadou app. Pages are thin like the API: they
read the same ``CurrentState`` snapshot as ``GET /api/v1/systems`` and call the same
``evaluate_period`` + ``report_document`` as ``GET /api/v1/availability``, and only lay the
figures out. Sign-in is a token pasted once into ``/login``; see ``sessions.py`` for the
cookie and CSRF design.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from app.api.context import ApiContext
from app.api.current import CurrentStateCache
from app.errors import Forbidden, InvalidInput, KadouError
from app.evaluation import evaluate_period, exclusion_json, report_document
from app.reports import charts
from app.reports import labels as report_labels
from app.reports.labels import Lang
from app.runtime import Runtime
from app.sla import periods
from app.store import audit
from app.store.db import transaction
from app.store.exclusions import ExclusionRequest, add_exclusion, list_exclusions
from app.store.models import CheckTimeline
from app.store.tokens import Actor, actor_for_digest, authenticate, hash_token
from app.store.types import from_ms, to_ms
from app.web import i18n, sessions
from app.web.views import (
    STATUS_DAYS,
    StatusRow,
    TimedCache,
    overview_cards,
    status_rows,
    strip_runs,
)

HERE = Path(__file__).resolve().parent
DEFAULT_REFRESH_SECONDS = 15
STATUS_MAX_AGE_SECONDS = 60.0
AUDIT_PAGE_SIZE = 100
REPORT_MONTHS = 13
PARTIAL_HEADER = "x-kadou-partial"

router = APIRouter(include_in_schema=False)


@dataclass
class WebState:
    runtime: Runtime
    signer: sessions.SessionSigner
    templates: Environment
    status_cache: TimedCache[list[StatusRow]]
    refresh_seconds: int
    # Used only when the app has no API context (the pages served without the API).
    own_context: ApiContext | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def include_web(
    app: FastAPI,
    runtime: Runtime,
    *,
    refresh_seconds: int = DEFAULT_REFRESH_SECONDS,
    session_secret: str | None = None,
) -> None:
    """Add the pages and ``/static`` to ``app`` (after the API, whose context they share)."""
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(TEMPLATE_HELPERS)
    own_context = None
    if not isinstance(getattr(app.state, "kadou", None), ApiContext):
        own_context = ApiContext(runtime, utc_now, CurrentStateCache(runtime, utc_now))
    app.state.kadou_web = WebState(
        runtime=runtime,
        signer=sessions.SessionSigner(session_secret),
        templates=environment,
        status_cache=TimedCache(STATUS_MAX_AGE_SECONDS),
        refresh_seconds=refresh_seconds,
        own_context=own_context,
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(_LoginRequired, _on_login_required)  # type: ignore[arg-type]


# --- per-request context ----------------------------------------------------------------


class _LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


async def _on_login_required(request: Request, error: _LoginRequired) -> Response:
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
            actor = actor_for_digest(db, session.token_sha256)
        if actor is None:  # revoked since sign-in: back to an anonymous session
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
    raise _LoginRequired(_here(request))


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body (what every form here posts), last value of each field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[-1] for name, values in parse_qs(body, keep_blank_values=True).items()}


def _safe_next(target: str | None) -> str:
    """Only a path on this site, never an absolute or scheme-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _month_period(current: Page, month: str | None) -> periods.Period:
    if month:
        try:
            return periods.parse_month(month, current.runtime.timezone)
        except ValueError as error:
            raise InvalidInput(str(error), field="month") from None
    local = current.context.now().astimezone(current.zone)
    return periods.month(local.year, local.month, current.runtime.timezone)


def _shift_month(label: str, months: int) -> str:
    year, month = (int(part) for part in label.split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --- sign-in and language ---------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/", current: Page = Depends(page)) -> Response:
    return current.render("login.html", next_path=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(current: Page = Depends(page), fields: dict[str, str] = Depends(form_fields)) -> Response:
    next_path = _safe_next(fields.get("next"))
    if not current.web.signer.check_csrf(current.session, fields.get("csrf_token")):
        return current.render(
            "login.html", status_code=403, next_path=next_path, error=current.t("csrf_failed")
        )
    secret = fields.get("token", "").strip()
    actor = None
    if secret:
        with current.runtime.sessions() as db:
            actor = authenticate(db, secret, touch=False)
    if actor is None:
        return current.render(
            "login.html", status_code=401, next_path=next_path, error=current.t("login_refused")
        )
    if not actor.can_read():
        return current.render(
            "login.html", status_code=403, next_path=next_path, error=current.t("login_prober")
        )
    response = RedirectResponse(next_path, status_code=303)
    # A fresh sid on sign-in: nothing learnt about the anonymous session carries over.
    signed_in = sessions.new_session(hash_token(secret))
    sessions.set_cookie(response, current.request, current.web.signer.encode(signed_in))
    return response


@router.post("/logout")
def logout(
    current: Page = Depends(page), fields: dict[str, str] = Depends(form_fields)
) -> Response:
    if not current.web.signer.check_csrf(current.session, fields.get("csrf_token")):
        return current.error(403, current.t("csrf_failed"))
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_cookie(response, current.request)
    return response


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        i18n.COOKIE, i18n.pick_lang(code), max_age=365 * 86400, samesite="lax", path="/"
    )
    return response


# --- the overview -----------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, refresh: int | None = None, current: Page = Depends(reader_page)
) -> Response:
    snapshot = current.context.current.get()
    cards = overview_cards(current.runtime.catalog, snapshot)
    refresh_seconds = max(1, refresh) if refresh else current.web.refresh_seconds
    partial = request.headers.get(PARTIAL_HEADER) == "1"
    return current.render(
        "overview_live.html" if partial else "overview.html",
        cards=cards,
        snapshot=snapshot,
        refresh_seconds=refresh_seconds,
        month_label=snapshot.period.label,
    )


# --- systems and services ---------------------------------------------------------------


def _probe_rows(current: Page, check_keys: list[str]) -> list[CheckTimeline]:
    with current.runtime.sessions() as db:
        rows = db.execute(
            select(CheckTimeline)
            .where(CheckTimeline.check.in_(check_keys))
            .order_by(CheckTimeline.location, CheckTimeline.check)
        ).scalars()
        return list(rows)


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
        period = _month_period(current, month)
    except KadouError as error:
        return current.error(422, str(error))
    now = current.context.now()
    with current.runtime.sessions() as db:
        result = evaluate_period(db, catalog, period, now=now, system_ids=[system_id])
    document = report_document(catalog, result, system_id=system_id, service_id=service_id)
    evaluation = result.for_service(system_id, service_id)
    if service_id is None:
        figures = document["systems"][0]
    else:
        figures = next(row for row in document["services"] if row["service"] == service_id)
    strip = figures.get("strip") or strip_runs(evaluation, current.zone)
    evaluated_end = from_ms(period.evaluated_end_ms(to_ms(result.cutoff)))
    in_progress = evaluated_end < period.end()
    strip_svg = (
        charts.month_strip(
            strip,
            period.start().isoformat(),
            evaluated_end.astimezone(current.zone).isoformat(),
            current.runtime.timezone,
            "strip",
            current.lang,
        )
        if evaluated_end > period.start()
        else None
    )
    daily = figures.get("daily")
    daily_svg = (
        charts.daily_bars(
            daily, figures["target"], figures["target_display"], "daily", current.lang
        )
        if daily
        else None
    )
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
        legend_svg=charts.legend("legend", current.lang),
        daily_svg=daily_svg,
        in_progress=in_progress,
        evaluated_end=evaluated_end,
        exclusions=document["exclusions"],
        probes=_probe_rows(current, checks),
        blips=len(evaluation.blips),
        previous_month=_shift_month(period.label, -1),
        next_month=_shift_month(period.label, 1) if period.label < this_month else None,
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


# --- incidents --------------------------------------------------------------------------


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(
    month: str | None = None,
    system: str | None = None,
    ongoing: bool = False,
    breached: bool = False,
    current: Page = Depends(reader_page),
) -> Response:
    catalog = current.runtime.catalog
    system = system or None
    if system is not None and system not in [item.id for item in catalog.systems]:
        return current.error(422, f"system: {current.t('not_found')}: {system}")
    try:
        period = _month_period(current, month)
    except KadouError as error:
        return current.error(422, str(error))
    with current.runtime.sessions() as db:
        result = evaluate_period(
            db, catalog, period, now=current.context.now(), system_ids=[system] if system else None
        )
    document = report_document(catalog, result, system_id=system)
    listed: list[dict[str, Any]] = []
    rows = [(row, row["service"]) for row in document["services"]]
    rows += [(row, None) for row in document["systems"]]
    for row, service_id in rows:
        for incident in row["incidents"]:
            if ongoing and not incident["ongoing"]:
                continue
            if breached and incident["recovery_met"] is not False:
                continue
            listed.append({"system": row["system"], "service": service_id, **incident})
    listed.sort(key=lambda item: (item["start"], item["system"], item["service"] or ""))
    return current.render(
        "incidents.html",
        period=period,
        incidents=listed,
        systems=catalog.systems,
        selected_system=system,
        ongoing=ongoing,
        breached=breached,
    )


# --- exclusions -------------------------------------------------------------------------


def _scopes(current: Page) -> list[tuple[str, str]]:
    scopes = []
    for system in current.runtime.catalog.systems:
        scopes.append((system.id, system.name.pick(current.lang)))
        for service in system.services:
            scopes.append(
                (f"{system.id}/{service.id}", f"  {system.id} / {service.name.pick(current.lang)}")
            )
    return scopes


def _exclusions_page(
    current: Page,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    created: int | None = None,
) -> Response:
    now = current.context.now()
    with current.runtime.sessions() as db:
        rows = [
            exclusion_json(row, current.zone)
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
    )


@router.get("/exclusions", response_class=HTMLResponse)
def exclusions_page(created: int | None = None, current: Page = Depends(reader_page)) -> Response:
    return _exclusions_page(current, created=created)


def _parse_local(value: str, field: str, zone: ZoneInfo) -> datetime:
    if not value.strip():
        raise InvalidInput("this field is required", field=field, ja="入力してください")
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a date and time; use YYYY-MM-DDTHH:MM",
            field=field,
            ja=f"{value!r} は日時として読めません。YYYY-MM-DDTHH:MM の形で入力してください",
        ) from None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=zone)


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
            starts_at=_parse_local(fields.get("start", ""), "start", current.zone),
            ends_at=_parse_local(fields.get("end", ""), "end", current.zone),
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
    return RedirectResponse(f"/exclusions?created={created}", status_code=303)


# --- reports and audit ------------------------------------------------------------------


@router.get("/reports", response_class=HTMLResponse)
def reports_page(current: Page = Depends(reader_page)) -> Response:
    from app.reports.render import FORMATS

    local = current.context.now().astimezone(current.zone)
    this_month = f"{local.year:04d}-{local.month:02d}"
    months = [_shift_month(this_month, -offset) for offset in range(REPORT_MONTHS)]
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
        period = _month_period(current, month)
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
        entries=entries[:AUDIT_PAGE_SIZE],
        has_older=len(entries) > AUDIT_PAGE_SIZE,
        page_number=page_number,
        entity=entity or "",
    )


# --- the public status page -------------------------------------------------------------


@router.get("/status", response_class=HTMLResponse)
def status_page(current: Page = Depends(page)) -> Response:
    snapshot = current.context.current.get()
    rows = current.web.status_cache.get(
        lambda: status_rows(current.runtime, current.context.now(), snapshot.states)
    )
    # The current state may be fresher than the cached days.
    for row in rows:
        row.state = snapshot.states.get((row.system, None), "unknown")
    return current.render("status.html", rows=rows, days=STATUS_DAYS, snapshot=snapshot)


# --- template helpers -------------------------------------------------------------------


def budget_bar_width(share: float | None) -> str:
    return "0" if share is None else f"{math.floor(share * 1000) / 10:g}"


TEMPLATE_HELPERS: dict[str, Callable[..., Any]] = {"budget_bar_width": budget_bar_width}
