"""The pages, server side: httpx against the ASGI app, a real SQLite file, sample data.

Every figure a page shows is compared with what the API returns for the same period, so a
page can never drift from ``GET /api/v1/availability``. The clock is fixed (and moved by
the tests that need time to pass), so month-to-date figures are reproducible.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from app.catalog.loader import default_catalog_text, parse_catalog
from app.catalog.model import Catalog
from app.demo.sample import default_scenario, generate
from app.observations import parse_observation
from app.runtime import Runtime, open_runtime, upgrade
from app.settings import Settings
from app.store.db import transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import store_observations
from app.store.tokens import Actor, Role, create_token, revoke_token

TZ = "Asia/Tokyo"
ZONE = ZoneInfo(TZ)
# Data from 2026-10-01 to 10-26; the clock starts on 10-25 09:00 JST (month to date).
DATA_START = datetime(2026, 10, 1, tzinfo=ZONE)
DATA_END = datetime(2026, 10, 26, tzinfo=ZONE)
START_CLOCK = datetime(2026, 10, 25, 9, 0, tzinfo=ZONE)
ROLES = ("viewer", "operator", "admin", "prober")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    """The app's clock; tests move it forward."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def web_catalog(interval: str = "5m") -> Catalog:
    """The built-in catalog with a longer probe interval, so a month of data is small."""
    text = default_catalog_text().replace("interval: 30s", f"interval: {interval}")
    return parse_catalog(text, "web-test-catalog")


def seed(runtime: Runtime, start: datetime, end: datetime) -> dict[str, str]:
    """The sample scenario's observations through the normal import path, and a token
    per role; returns the token secrets by role."""
    catalog = runtime.catalog
    checks = catalog.checks()
    scenario = default_scenario(start.year, start.month, TZ)
    records = generate(catalog, start, end, scenario)
    batch = [parse_observation(record, checks, "sample") for record in records]
    secrets: dict[str, str] = {}
    with transaction(runtime.sessions) as session:
        store_observations(session, batch, runtime.timeline_params)
        for role in ROLES:
            _, secrets[role] = create_token(session, name=f"web-{role}", role=role, actor="test")
        # The sample's planned windows, registered a month ahead as an operator would.
        registered_at = start - timedelta(days=30)
        for scope, starts_at, ends_at, reason in scenario.planned:
            add_exclusion(
                session,
                catalog,
                ExclusionRequest(scope, "planned", starts_at, ends_at, reason),
                Actor("web-operator", Role.OPERATOR),
                now=registered_at,
            )
    return secrets


def make_runtime(database_url: str, *, public_read: bool = False, interval: str = "5m") -> Runtime:
    upgrade(database_url)
    settings = Settings(database_url=database_url, timezone=TZ, public_read=public_read)
    return open_runtime(settings, catalog=web_catalog(interval))


def build_app(runtime: Runtime, clock: Callable[[], datetime], **options: Any) -> FastAPI:
    """The Kadou app (API and pages) on the test clock."""
    from app.main import create_app

    app = create_app(
        runtime,
        now=clock,
        current_max_age_seconds=0,
        metrics_refresh_seconds=None,
        **options,
    )
    return app


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, secret: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login", data={"token": secret, "csrf_token": csrf_of(form.text), "next": "/"}
    )


def availability_by_system(html: str) -> dict[str, str]:
    """data-system → the availability shown in that card (the first one in it)."""
    shown: dict[str, str] = {}
    for chunk in html.split('<li class="card')[1:]:
        system = re.search(r'data-system="([^"]+)"', chunk)
        figure = re.search(r'data-availability="([^"]*)"', chunk)
        assert system and figure
        shown[system.group(1)] = figure.group(1)
    return shown


@dataclass
class Site:
    runtime: Runtime
    clock: Clock
    secrets: dict[str, str]
    app: FastAPI


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """One seeded database file per module, copied for each test that writes to it."""
    path = tmp_path_factory.mktemp("web") / "seed.db"
    runtime = make_runtime(f"sqlite:///{path}")
    secrets = seed(runtime, DATA_START, DATA_END)
    runtime.engine.dispose()
    return str(path), secrets


@pytest.fixture
def site(seeded_db: tuple[str, dict[str, str]], tmp_path: Path) -> Site:
    source, secrets = seeded_db
    copy = tmp_path / "kadou.db"
    copy.write_bytes(Path(source).read_bytes())
    runtime = make_runtime(f"sqlite:///{copy}")
    clock = Clock(START_CLOCK)
    return Site(runtime, clock, secrets, build_app(runtime, clock))


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kadou.test") as http:
        yield http


def bearer(site: Site, role: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {site.secrets[role]}"}


# --- sign-in ------------------------------------------------------------------------------


async def test_pages_need_sign_in_unless_public_read(client: httpx.AsyncClient) -> None:
    for path in ("/", "/systems/jpki", "/incidents", "/exclusions", "/reports", "/audit"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    # The public status page never needs sign-in.
    assert (await client.get("/status")).status_code == 200


async def test_sign_in_sets_a_strict_httponly_cookie(client: httpx.AsyncClient, site: Site) -> None:
    response = await sign_in(client, site.secrets["operator"])
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    overview = await client.get("/")
    assert overview.status_code == 200
    assert "web-operator" in overview.text
    assert site.secrets["operator"] not in response.headers["set-cookie"]


async def test_cookie_is_secure_over_https(site: Site) -> None:
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://kadou.test") as http:
        response = await sign_in(http, site.secrets["viewer"])
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_wrong_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "kadou_not-a-real-token")
    assert response.status_code == 401
    assert "無効か失効" in response.text
    assert (await client.get("/")).status_code == 303


async def test_a_prober_token_cannot_read_pages(client: httpx.AsyncClient, site: Site) -> None:
    response = await sign_in(client, site.secrets["prober"])
    assert response.status_code == 403
    assert (await client.get("/")).status_code == 303


async def test_login_needs_the_csrf_token(client: httpx.AsyncClient, site: Site) -> None:
    await client.get("/login")
    response = await client.post(
        "/login", data={"token": site.secrets["admin"], "csrf_token": "forged", "next": "/"}
    )
    assert response.status_code == 403
    assert (await client.get("/")).status_code == 303


async def test_sign_in_redirects_only_within_the_site(
    client: httpx.AsyncClient, site: Site
) -> None:
    form = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "token": site.secrets["viewer"],
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/"


async def test_revoking_the_token_ends_the_session(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    assert (await client.get("/")).status_code == 200
    with transaction(site.runtime.sessions) as session:
        revoke_token(session, "web-viewer", actor="test")
    assert (await client.get("/")).status_code == 303


async def test_logout_needs_csrf_and_ends_the_session(
    client: httpx.AsyncClient, site: Site
) -> None:
    await sign_in(client, site.secrets["viewer"])
    overview = await client.get("/")
    assert (await client.post("/logout", data={"csrf_token": "x"})).status_code == 403
    response = await client.post("/logout", data={"csrf_token": csrf_of(overview.text)})
    assert response.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_logout_ends_every_session_of_the_token(
    client: httpx.AsyncClient, site: Site
) -> None:
    """Signing out in one browser ends the token's sessions everywhere, copied cookies too."""
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kadou.test") as other:
        await sign_in(client, site.secrets["viewer"])
        await sign_in(other, site.secrets["viewer"])
        copied = client.cookies.get("kadou_session")
        overview = await client.get("/")
        assert (await other.get("/")).status_code == 200
        response = await client.post("/logout", data={"csrf_token": csrf_of(overview.text)})
        assert response.status_code == 303
        assert (await other.get("/")).status_code == 303
        other.cookies.set("kadou_session", copied or "", domain="kadou.test")
        assert (await other.get("/")).status_code == 303
        # Signing in again works, with a session of the new generation.
        await sign_in(other, site.secrets["viewer"])
        assert (await other.get("/")).status_code == 200


def client_from(site: Site, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=site.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://kadou.test")


async def test_sign_in_is_throttled_per_client_address(site: Site) -> None:
    async with client_from(site, "192.0.2.7") as attacker:
        for attempt in range(10):
            refused = await sign_in(attacker, f"kadou_guess-{attempt}")
            assert refused.status_code == 401, attempt
        throttled = await sign_in(attacker, "kadou_guess-10")
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert "秒後" in throttled.text
        # While throttled even the right token is not tried.
        assert (await sign_in(attacker, site.secrets["viewer"])).status_code == 429
        assert (await attacker.get("/")).status_code == 303
    async with client_from(site, "192.0.2.8") as neighbour:
        assert (await sign_in(neighbour, site.secrets["viewer"])).status_code == 303


async def test_security_headers_on_every_response(client: httpx.AsyncClient, site: Site) -> None:
    paths = ["/login", "/status", "/", "/static/kadou.css", "/api/v1/systems", "/nope"]
    await sign_in(client, site.secrets["viewer"])
    for path in [*paths, "/systems/jpki", "/incidents", "/exclusions", "/audit", "/reports"]:
        response = await client.get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy, path
        if response.headers["content-type"].startswith("text/html"):
            # Nothing the policy would block: no inline script, no style attributes.
            assert not re.search(r"<script(?![^>]*\ssrc=)", response.text), path
            assert not re.search(r"\sstyle=", response.text), path
            assert not re.search(r"\son[a-z]+=", response.text), path


async def test_public_read_opens_pages_but_not_forms(
    tmp_path: Path, seeded_db: tuple[str, dict[str, str]]
) -> None:
    copy = tmp_path / "public.db"
    copy.write_bytes(Path(seeded_db[0]).read_bytes())
    runtime = make_runtime(f"sqlite:///{copy}", public_read=True)
    app = build_app(runtime, Clock(START_CLOCK))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kadou.test") as http:
        assert (await http.get("/")).status_code == 200
        page = await http.get("/exclusions")
        assert page.status_code == 200
        assert 'action="/exclusions"' not in page.text
        posted = await http.post(
            "/exclusions",
            data={"csrf_token": csrf_of(page.text) if "csrf_token" in page.text else ""},
        )
        assert posted.status_code == 403


# --- the overview and the detail pages ----------------------------------------------------


async def test_overview_shows_the_api_availability(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    overview = await client.get("/")
    shown = availability_by_system(overview.text)
    api = (await client.get("/api/v1/availability?month=2026-10", headers=bearer(site))).json()
    expected = {row["system"]: row["availability_display"] or "" for row in api["systems"]}
    assert shown == expected
    assert len(shown) == 5


async def test_overview_shows_the_previous_month_and_any_month(
    client: httpx.AsyncClient, site: Site
) -> None:
    """On the 1st the month is a few hours old: the closed previous month is beside it."""
    site.clock.now = datetime(2026, 11, 1, 9, 0, tzinfo=ZONE)
    await sign_in(client, site.secrets["viewer"])
    october = (await client.get("/api/v1/availability?month=2026-10", headers=bearer(site))).json()
    expected = {row["system"]: row["availability_display"] or "" for row in october["systems"]}
    overview = (await client.get("/")).text
    shown = dict(
        re.findall(r'data-system="([^"]+)".*?data-availability-previous="([^"]*)"', overview, re.S)
    )
    assert shown == expected
    assert "前月（2026-10）" in overview
    # October itself, chosen: its figures in the cards, September beside them.
    chosen = (await client.get("/?month=2026-10")).text
    assert availability_by_system(chosen) == expected
    # Ended but never closed: its figures can still change, so it is not called 確定.
    assert "の実績（未確定）" in chosen and "の実績（確定）" not in chosen
    assert 'data-previous-month="2026-09"' in chosen
    assert (await client.get("/?month=2026-12")).status_code == 422
    assert (await client.get("/?month=2026-13")).status_code == 422


async def test_overview_partial_is_the_live_fragment(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    partial = await client.get("/", headers={"X-Kadou-Partial": "1"})
    assert partial.status_code == 200
    assert "<html" not in partial.text and 'data-system="jpki"' in partial.text


async def test_an_outage_now_turns_the_system_red(client: httpx.AsyncClient, site: Site) -> None:
    site.clock.now = DATA_END + timedelta(minutes=5)
    await sign_in(client, site.secrets["viewer"])
    pattern = r'data-system="account-registration" data-rag="(\w+)" data-state="(\w+)"'
    before = re.search(pattern, (await client.get("/")).text)
    assert before and before.groups() == ("green", "up")
    # Two failed probes after the sample data ends: confirmed down (confirm = 2).
    checks = site.runtime.catalog.checks()
    failures = [
        parse_observation(
            {
                "check": "account-registration/main/http",
                "location": "tokyo",
                "observed_at": (DATA_END + timedelta(minutes=minutes)).isoformat(),
                "ok": False,
                "detail": "status 503",
            },
            checks,
            "test",
        )
        for minutes in (0, 4)
    ]
    with transaction(site.runtime.sessions) as session:
        store_observations(session, failures, site.runtime.timeline_params)
    overview = await client.get("/")
    after = re.search(pattern, overview.text)
    assert after and after.groups() == ("red", "down")
    assert "停止中" in overview.text
    # One outage, one open incident: the system's, with its service inside it.
    card = overview.text.split('data-system="account-registration"')[1].split("</li>\n</ul>")[0]
    assert "継続中の障害 (1)" in card
    assert card.count('class="incident-group"') == 1 and "affected" in card
    service = await client.get("/systems/account-registration/main")
    assert "status 503" in service.text  # the failure reason of the latest probe


async def test_system_page_figures_match_the_api(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    page = await client.get("/systems/info-network?month=2026-10")
    api = (
        await client.get(
            "/api/v1/availability?month=2026-10&system=info-network", headers=bearer(site)
        )
    ).json()
    system = api["systems"][0]
    assert f'data-availability="{system["availability_display"]}"' in page.text
    assert system["incidents"], "the sample month has an info-network incident"
    assert 'class="chart strip"' in page.text
    # A closed month: the strip covers the whole month.
    previous = await client.get("/systems/info-network?month=2026-09")
    assert previous.status_code == 200
    assert (await client.get("/systems/info-network?month=2026-13")).status_code == 422
    assert (await client.get("/systems/no-such-system")).status_code == 404


async def test_detail_page_draws_the_whole_month_with_its_daily_chart(
    client: httpx.AsyncClient, site: Site
) -> None:
    await sign_in(client, site.secrets["viewer"])
    page = (await client.get("/systems/mynaportal/records?month=2026-10")).text
    main = page.split('<main id="main">')[1]
    # The heading and the big percentage once each.
    assert main.count(">稼働実績<") == 1
    assert main.count("data-availability=") == 1
    # The daily chart, a bar for each day up to today (the 25th, to 09:00), the rest empty.
    assert 'class="chart daily"' in main
    assert len(re.findall(r'class="bar-(?:up|down|unknown)"', main)) == 25
    # The strip spans the month: the days to come are one empty run after today's 09:00.
    future = re.search(
        r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*class="run-future"', main
    )
    assert future, "the days to come are not drawn"
    left, width, month_ms = 4.0, 712.0, 31 * 86_400_000
    elapsed_ms = (START_CLOCK - datetime(2026, 10, 1, tzinfo=ZONE)).total_seconds() * 1000
    assert float(future.group(1)) == pytest.approx(left + elapsed_ms / month_ms * width, abs=0.01)
    assert float(future.group(2)) == pytest.approx((1 - elapsed_ms / month_ms) * width, abs=0.01)
    # The legend is page text, each state in words.
    legend = main.split('<ul class="legend"')[1].split("</ul>")[0]
    for words in ("稼働", "停止", "データ欠測", "除外", "運用時間外", "これから"):
        assert words in legend
    closed = (await client.get("/systems/mynaportal/records?month=2026-09")).text
    assert "run-future" not in closed and "これから" not in closed


async def test_status_page_shows_no_internal_detail(client: httpx.AsyncClient, site: Site) -> None:
    response = await client.get("/status")
    assert response.status_code == 200
    text = response.text
    for secret_detail in ("127.0.0.1", "/health", "status 503", "timeout", "web-", "csrf"):
        assert secret_detail not in text
    assert text.count('class="day ') >= 5 * 90
    # A day's bar says what the API says for that day.
    api = (
        await client.get(
            "/api/v1/availability?start=2026-10-17T00:00&end=2026-10-18T00:00"
            "&system=card-management",
            headers=bearer(site),
        )
    ).json()
    shown = api["systems"][0]["availability_display"]
    assert shown is not None
    row = text.split('data-system="card-management"')[1].split("</li>")[0]
    assert f'title="2026-10-17: {shown}"' in row


async def test_status_page_is_honest_about_coverage(client: httpx.AsyncClient, site: Site) -> None:
    """The sample has data from 10-01: 25 of the last 90 days, and the page says so."""
    text = (await client.get("/status")).text
    main = text.split('<main id="main">')[1]
    assert "90日間の稼働率" not in main
    assert main.index('id="status-legend"') < main.index('class="status-list"')
    for row in main.split('<li class="status-row"')[1:]:
        assert 'data-days-with-data="25"' in row
        assert "データのある25日間の稼働率" in row
        assert row.count('class="day day-none"') == 65
        assert "データのある日: 25日" in row


async def test_status_page_does_not_change_the_cached_rows(
    client: httpx.AsyncClient, site: Site
) -> None:
    """Each request shows the state now on its own copy of the cached rows, which
    concurrent requests share."""
    await client.get("/status")
    cache = site.app.state.kadou_web.status_cache
    cached = cache.get(lambda: pytest.fail("the rows should be cached"))
    site.clock.now = DATA_END + timedelta(minutes=5)
    checks = site.runtime.catalog.checks()
    failures = [
        parse_observation(
            {
                "check": "jpki/main/http",
                "location": "tokyo",
                "observed_at": (DATA_END + timedelta(minutes=minutes)).isoformat(),
                "ok": False,
            },
            checks,
            "test",
        )
        for minutes in (0, 4)
    ]
    with transaction(site.runtime.sessions) as session:
        store_observations(session, failures, site.runtime.timeline_params)
    page = (await client.get("/status")).text
    assert 'data-system="jpki" data-state="down"' in page
    assert cache.get(lambda: pytest.fail("the rows should be cached")) is cached
    assert {row.system: row.state for row in cached}["jpki"] == "up"


async def test_language_switch(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    response = await client.get("/lang/en?next=/incidents")
    assert response.headers["location"] == "/incidents"
    page = await client.get("/incidents")
    assert '<html lang="en">' in page.text and "Incidents" in page.text


async def test_incident_filters(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    everything = await client.get("/incidents?month=2026-10")
    only_jpki = await client.get("/incidents?month=2026-10&system=jpki")
    assert "/systems/info-network" in everything.text
    assert "/systems/info-network?" not in only_jpki.text and "/systems/jpki" in only_jpki.text
    # Nothing is ongoing at the clock's time, and every recovery was within 8 h.
    for narrowed in ("ongoing=true", "breached=true"):
        page = await client.get(f"/incidents?month=2026-10&{narrowed}")
        assert "障害はありません" in page.text, narrowed
    assert "障害はありません" not in everything.text


async def test_incidents_are_grouped_by_system(client: httpx.AsyncClient, site: Site) -> None:
    """Four outages by the clock's time, each of one service of its system: four rows, not
    eight, each naming the system and, inside it, the service by name."""
    await sign_in(client, site.secrets["viewer"])
    page = await client.get("/incidents?month=2026-10")
    rows = re.findall(
        r'<tr class="incident-group[^"]*" data-system="([^"]+)" data-service="', page.text
    )
    assert sorted(rows) == sorted(["info-network", "jpki", "card-management", "mynaportal"])
    mynaportal = page.text.split('data-system="mynaportal"')[1].split("</tr>")[0]
    assert "マイナポータル" in mynaportal and "情報提供等記録表示" in mynaportal
    assert 'data-service="mynaportal/records"' in mynaportal
    english = await client.get("/lang/en?next=/incidents?month=2026-10", follow_redirects=True)
    assert "Card Management System" in english.text


def test_a_service_only_incident_is_its_own_row() -> None:
    from app.web.views import group_incidents

    def incident(start: str, end: str | None) -> dict[str, Any]:
        return {"start": start, "end": end, "ongoing": end is None, "recovery_met": None}

    system_down = incident("2026-10-21T20:00:00+09:00", "2026-10-21T20:06:00+09:00")
    inside = incident("2026-10-21T20:01:00+09:00", "2026-10-21T20:05:00+09:00")
    alone = incident("2026-10-22T08:00:00+09:00", None)  # a non-core service, still down
    name = {"ja": "記録", "en": "Records"}
    groups = group_incidents(
        "mynaportal",
        {"ja": "マイナポータル", "en": "Mynaportal"},
        [system_down],
        [("records", name, [inside]), ("notices", name, [alone])],
    )
    assert [(group.service, len(group.affected)) for group in groups] == [
        (None, 1),
        ("notices", 0),
    ]
    assert groups[0].affected[0].service == "records"
    assert [group.matches(ongoing=True, breached=False) for group in groups] == [False, True]


def test_overview_cards_list_the_incidents_pages_open_groups() -> None:
    """The cards' open incidents are the incidents page's listing narrowed to ongoing, per
    system: an ended system outage with a service still down counts, an ended one does not."""
    from app.web.views import incident_groups, overview_cards

    def incident(start: str, end: str | None) -> dict[str, Any]:
        return {"start": start, "end": end, "ongoing": end is None, "recovery_met": None}

    catalog = web_catalog()
    document: dict[str, Any] = {"systems": [], "services": []}
    for system in catalog.systems:
        figures = {"system": system.id, "name": system.name.model_dump(), "incidents": []}
        figures |= {"availability": None, "met": None, "insufficient_data": True}
        figures |= {"error_budget_seconds": None, "error_budget_remaining_seconds": None}
        document["systems"].append(figures)
        for service in system.services:
            row = {**figures, "service": service.id, "name": service.name.model_dump()}
            document["services"].append({**row, "incidents": []})
    ended = incident("2026-10-21T20:00:00+09:00", "2026-10-21T20:06:00+09:00")
    still_down = incident("2026-10-21T20:01:00+09:00", None)
    document["systems"][0]["incidents"] = [ended]
    document["services"][0]["incidents"] = [still_down]
    document["systems"][1]["incidents"] = [ended]
    listed = incident_groups(document, ongoing=True)
    assert [(group.system, len(group.affected)) for group in listed] == [(catalog.systems[0].id, 1)]
    cards = overview_cards(catalog, document, {}, [])
    assert [card.open_incidents for card in cards] == [listed] + [[]] * (len(cards) - 1)
    past = overview_cards(catalog, document, {}, [], live=False)
    assert all(card.open_incidents == [] for card in past)


async def test_audit_page_reads_as_changes(client: httpx.AsyncClient, site: Site) -> None:
    """A change shows field: before → after, in the reporting time zone, Japanese as text."""
    from app.store.exclusions import update_exclusion

    with transaction(site.runtime.sessions) as session:
        update_exclusion(
            session,
            site.runtime.catalog,
            2,  # the sample's card-management window, 10-18 01:00–05:00 JST
            actor=Actor("web-admin", Role.ADMIN),
            reason="作業が延長されたため",
            ends_at=datetime(2026, 10, 18, 6, 30, tzinfo=ZONE),
            now=datetime(2026, 10, 1, tzinfo=ZONE),
        )
    await sign_in(client, site.secrets["viewer"])
    page = (await client.get("/audit")).text
    main = page.split('<main id="main">')[1]
    readable = re.sub(r"<details.*?</details>", "", main, flags=re.S)
    assert "\\u" not in main and "+00:00" not in readable
    change = main.split('data-audit-id="')[1].split("</li>")[0]  # the newest entry
    assert "作業が延長されたため" in change and "変更" in change
    row = re.search(
        r'<tr data-field="end">.*?<td class="before">(.*?)</td>.*?<td class="after">(.*?)</td>',
        change,
        re.S,
    )
    assert row and row.groups() == ("2026-10-18 05:00:00", "2026-10-18 06:30:00")
    # Only what changed is listed; the whole entry is there as JSON on demand.
    assert 'data-field="reason"' not in change and 'data-field="start"' not in change
    assert "<details" in change and "&#34;reason&#34;: &#34;OS patching&#34;" in change
    created = next(item for item in main.split('data-audit-id="') if "作成 · 除外期間 #1<" in item)
    assert "定期保守 (monthly maintenance)" in created
    assert "情報提供ネットワークシステム（コアシステム） (info-network)" in created
    assert "計画停止" in created


async def test_report_download(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    page = await client.get("/reports")
    assert "/reports/monthly?month=2026-10&amp;format=pdf&amp;lang=ja" in page.text
    response = await client.get("/reports/monthly?month=2026-10&format=csv&lang=en")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]


# --- the exclusion form -------------------------------------------------------------------


async def post_window(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/exclusions")
    return await client.post("/exclusions", data={"csrf_token": csrf_of(page.text), **fields})


async def test_viewer_sees_no_form_and_cannot_post(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["viewer"])
    page = await client.get("/exclusions")
    assert 'action="/exclusions"' not in page.text
    response = await client.post(
        "/exclusions",
        data={"csrf_token": csrf_of(page.text), "scope": "jpki", "kind": "planned"},
    )
    assert response.status_code == 403


async def test_form_needs_csrf(client: httpx.AsyncClient, site: Site) -> None:
    await sign_in(client, site.secrets["operator"])
    response = await client.post(
        "/exclusions",
        data={
            "csrf_token": "forged",
            "scope": "jpki",
            "kind": "planned",
            "reason": "x",
            "start": "2026-10-26T01:00",
            "end": "2026-10-26T02:00",
        },
    )
    assert response.status_code == 403


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (
            {"start": "2026-10-26T03:00", "end": "2026-10-26T01:00"},
            "end",
            {"en": "after the start", "ja": "終了は開始より後"},
        ),
        (
            {"start": "2026-10-20T01:00", "end": "2026-10-20T02:00"},
            "start",
            {"en": "before it starts", "ja": "開始前に登録"},
        ),
        ({"start": "", "end": "2026-10-26T02:00"}, "start", {"en": "required", "ja": "入力"}),
        ({"reason": "  "}, "reason", {"en": "why", "ja": "理由"}),
        ({"kind": "disaster"}, "kind", {"en": "admin", "ja": "管理者"}),
    ],
)
async def test_form_errors_name_the_field(
    client: httpx.AsyncClient,
    site: Site,
    fields: dict[str, str],
    field: str,
    words: dict[str, str],
    lang: str,
) -> None:
    await sign_in(client, site.secrets["operator"])
    await client.get(f"/lang/{lang}?next=/exclusions")
    form = {
        "scope": "jpki",
        "kind": "planned",
        "start": "2026-10-26T01:00",
        "end": "2026-10-26T02:00",
        "reason": "maintenance",
        **fields,
    }
    response = await post_window(client, **form)
    assert response.status_code in (403, 422)
    message = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', response.text)
    assert message, response.text[-2000:]
    assert words[lang] in message.group(1)
    assert f'aria-describedby="{field}-error"' in response.text or field == "kind"


async def test_operator_registers_a_window_and_the_report_changes(
    client: httpx.AsyncClient, site: Site
) -> None:
    """The sample has account-registration down 10-25 09:30–09:42; a planned window over
    it, registered at 09:00, takes that downtime out of the month's figures."""
    await sign_in(client, site.secrets["operator"])
    response = await post_window(
        client,
        scope="account-registration",
        kind="planned",
        start="2026-10-25T09:10",
        end="2026-10-25T10:00",
        reason="DB migration",
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "data-audit-entry" in page.text and "DB migration" in page.text
    site.clock.now = datetime(2026, 10, 26, 0, 0, tzinfo=ZONE)
    api = (
        await client.get(
            "/api/v1/availability?month=2026-10&system=account-registration",
            headers=bearer(site),
        )
    ).json()
    system = api["systems"][0]
    assert system["excluded_seconds"]["planned"] == 50 * 60
    assert system["downtime_seconds"] == 0
    overview = await client.get("/")
    assert (
        availability_by_system(overview.text)["account-registration"]
        == system["availability_display"]
    )


def add_window(site: Site, scope: str, kind: str, starts_at: datetime, ends_at: datetime) -> int:
    with transaction(site.runtime.sessions) as session:
        row = add_exclusion(
            session,
            site.runtime.catalog,
            ExclusionRequest(scope, kind, starts_at, ends_at, f"{kind} work"),
            Actor("web-admin", Role.ADMIN),
            now=starts_at - timedelta(days=1),
        )
        return row.id


async def test_exclusions_list_names_scopes_and_kinds_as_the_form_does(
    client: httpx.AsyncClient, site: Site
) -> None:
    add_window(
        site,
        "mynaportal/notices",
        "disaster",
        datetime(2026, 10, 24, 8, 0, tzinfo=ZONE),
        datetime(2026, 10, 24, 9, 0, tzinfo=ZONE),
    )
    await sign_in(client, site.secrets["admin"])
    page = (await client.get("/exclusions")).text
    listed = page.split('id="list-heading"')[1]
    row = re.search(r'<tr id="exclusion-3".*?</tr>', listed, re.S)
    assert row
    assert "マイナポータル（情報提供等記録開示システム） › お知らせ情報表示" in row.group(0)
    assert "災害による停止" in row.group(0)
    form = page.split('id="form-heading"')[1].split("</form>")[0]
    assert "災害による停止" in form and "計画停止" in form
    assert "<td>災害</td>" not in listed


async def test_admin_ends_a_running_window_with_a_reason(
    client: httpx.AsyncClient, site: Site
) -> None:
    window = add_window(
        site,
        "jpki",
        "planned",
        datetime(2026, 10, 25, 8, 0, tzinfo=ZONE),
        datetime(2026, 10, 25, 12, 0, tzinfo=ZONE),
    )
    await sign_in(client, site.secrets["admin"])
    page = (await client.get("/exclusions")).text
    token = csrf_of(page)
    assert f'action="/exclusions/{window}/change"' in page
    # No reason: refused, the message names the field, nothing changes.
    refused = await client.post(
        f"/exclusions/{window}/change", data={"csrf_token": token, "action": "end", "reason": " "}
    )
    assert refused.status_code == 422
    assert f'id="change-{window}-error"' in refused.text and "理由" in refused.text
    forged = await client.post(
        f"/exclusions/{window}/change", data={"csrf_token": "x", "action": "end", "reason": "r"}
    )
    assert forged.status_code == 403
    ended = await client.post(
        f"/exclusions/{window}/change",
        data={"csrf_token": token, "action": "end", "reason": "作業が早く終わった"},
    )
    assert ended.status_code == 303
    shown = (await client.get(ended.headers["location"])).text
    assert f"除外期間 #{window} を終了しました" in shown
    api = (await client.get(f"/api/v1/exclusions/{window}", headers=bearer(site, "admin"))).json()
    assert datetime.fromisoformat(api["end"]) == START_CLOCK
    audit = (await client.get("/audit")).text
    assert "作業が早く終わった" in audit


async def test_admin_removes_a_window_and_others_cannot(
    client: httpx.AsyncClient, site: Site
) -> None:
    window = add_window(
        site,
        "jpki",
        "planned",
        datetime(2026, 10, 28, 1, 0, tzinfo=ZONE),
        datetime(2026, 10, 28, 2, 0, tzinfo=ZONE),
    )
    await sign_in(client, site.secrets["operator"])
    page = (await client.get("/exclusions")).text
    assert "/change" not in page
    denied = await client.post(
        f"/exclusions/{window}/change",
        data={"csrf_token": csrf_of(page), "action": "remove", "reason": "r"},
    )
    assert denied.status_code == 403
    await sign_in(client, site.secrets["admin"])
    page = (await client.get("/exclusions")).text
    assert "今すぐ終了" not in page.split(f'id="exclusion-{window}"')[1].split("</tr>")[0]
    removed = await client.post(
        f"/exclusions/{window}/change",
        data={"csrf_token": csrf_of(page), "action": "remove", "reason": "中止"},
    )
    assert removed.status_code == 303
    after = (await client.get(removed.headers["location"])).text
    assert f'id="exclusion-{window}"' not in after
    again = await client.post(
        f"/exclusions/{window}/change",
        data={"csrf_token": csrf_of(after), "action": "remove", "reason": "中止"},
    )
    assert again.status_code == 404
