"""The browser pages: server-rendered Jinja2, a little vanilla JS, Japanese and English.

``include_web(app, runtime)`` adds them to the Kadou app. Pages are thin like the API: they
read the same ``CurrentState`` snapshot as ``GET /api/v1/systems`` and call the same
``evaluate_period`` + ``report_document`` as ``GET /api/v1/availability``, and only lay the
figures out. Sign-in is a token pasted once into ``/login``; see ``sessions.py`` for the
cookie and CSRF design.

Each page family has its own module under ``app/web/pages/`` with its own router; this
module assembles them in order and wires the templates, ``/static`` and the sign-in redirect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.api.context import ApiContext
from app.current import CurrentStateCache, DerivedCache
from app.runtime import Runtime
from app.web import sessions
from app.web.pages import audit, exclusions, incidents, overview, reports, signin, status
from app.web.pages.context import LoginRequired, WebState, on_login_required
from app.web.throttle import LoginThrottle
from app.web.views import MonthDocuments

HERE = Path(__file__).resolve().parent
DEFAULT_REFRESH_SECONDS = 15
STATUS_MAX_AGE_SECONDS = 60.0
# Whole months other than the running one (the overview's previous month, a chosen month).
MONTH_MAX_AGE_SECONDS = 60.0

router = APIRouter(include_in_schema=False)
for family in (signin, overview, incidents, exclusions, reports, audit, status):
    router.include_router(family.router)


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
    context = getattr(app.state, "kadou", None)
    if not isinstance(context, ApiContext):
        context = own_context = ApiContext(runtime, utc_now, CurrentStateCache(runtime, utc_now))
    app.state.kadou_web = WebState(
        runtime=runtime,
        signer=sessions.SessionSigner(session_secret),
        templates=environment,
        # Follows the current state, so a write through the API or a page drops it too.
        status_cache=DerivedCache(context.current, STATUS_MAX_AGE_SECONDS),
        refresh_seconds=refresh_seconds,
        login_throttle=LoginThrottle(),
        month_documents=MonthDocuments(context.current, MONTH_MAX_AGE_SECONDS),
        own_context=own_context,
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, on_login_required)  # type: ignore[arg-type]


# --- template helpers -------------------------------------------------------------------


def budget_bar_width(share: float | None) -> str:
    return "0" if share is None else f"{math.floor(share * 1000) / 10:g}"


TEMPLATE_HELPERS: dict[str, Callable[..., Any]] = {"budget_bar_width": budget_bar_width}
