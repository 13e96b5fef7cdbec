"""A closed month's pages show its latest version as frozen, and say which version it is.

SLA-SEMANTICS §9: after a month is closed, a retroactive window changes nothing on the
pages until the month is amended; then the pages show version 2 and why it exists.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.months import close_month
from app.sla import periods
from app.store.db import transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.tokens import Actor, Role
from tests.integration.test_web_pages import (
    DATA_END,
    DATA_START,
    TZ,
    ZONE,
    Clock,
    Site,
    availability_by_system,
    build_app,
    make_runtime,
    seed,
    sign_in,
)

CLOSED_AT = datetime(2026, 11, 2, 9, tzinfo=ZONE)
AMENDED_AT = datetime(2026, 11, 15, 10, tzinfo=ZONE)
OCTOBER = periods.month(2026, 10, TZ)
VERSION = re.compile(r"<[^>]*data-month-version[^>]*>([^<]*)<")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    path = tmp_path_factory.mktemp("closed-web") / "seed.db"
    runtime = make_runtime(f"sqlite:///{path}")
    secrets = seed(runtime, DATA_START, DATA_END)
    runtime.engine.dispose()
    return str(path), secrets


@pytest.fixture
def site(seeded: tuple[str, dict[str, str]], tmp_path: Path) -> Site:
    source, secrets = seeded
    copy = tmp_path / "kadou.db"
    copy.write_bytes(Path(source).read_bytes())
    runtime = make_runtime(f"sqlite:///{copy}")
    clock = Clock(AMENDED_AT)
    return Site(runtime, clock, secrets, build_app(runtime, clock))


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kadou.test") as http:
        await sign_in(http, site.secrets["viewer"])
        yield http


def close_october(site: Site, now: datetime) -> int | None:
    row = close_month(site.runtime.sessions, site.runtime.catalog, OCTOBER, actor="t", now=now)
    return None if row is None else row.version


def retroactive_disaster(site: Site) -> int:
    """A disaster window over jpki's outage of 10-09 14:05–14:41, declared in November."""
    with transaction(site.runtime.sessions) as session:
        row = add_exclusion(
            session,
            site.runtime.catalog,
            ExclusionRequest(
                "jpki",
                "disaster",
                datetime(2026, 10, 9, 14, tzinfo=ZONE),
                datetime(2026, 10, 9, 15, tzinfo=ZONE),
                "earthquake",
                retroactive=True,
            ),
            Actor("web-admin", Role.ADMIN),
            now=AMENDED_AT - timedelta(hours=1),
        )
        return row.id


def captions(html: str) -> list[str]:
    return [caption.strip() for caption in VERSION.findall(html)]


def jpki_figure(html: str) -> str:
    match = re.search(r'data-availability="([^"]*)"', html)
    assert match
    return match.group(1)


async def test_an_open_month_says_nothing_about_versions(client: httpx.AsyncClient) -> None:
    for path in ("/?month=2026-10", "/systems/jpki?month=2026-10", "/reports"):
        assert captions((await client.get(path)).text) == [], path


async def test_a_closed_month_shows_its_frozen_version(
    client: httpx.AsyncClient, site: Site
) -> None:
    assert close_october(site, CLOSED_AT) == 1
    overview = (await client.get("/?month=2026-10")).text
    assert captions(overview) == ["確定 (第1版)"]
    assert "の実績（確定）" in overview
    frozen = availability_by_system(overview)["jpki"]
    detail = (await client.get("/systems/jpki?month=2026-10")).text
    assert captions(detail) == ["確定 (第1版)"]
    frozen_detail = jpki_figure(detail)

    # A window declared after the closing changes the inputs but not the closed figures:
    # the pages keep showing version 1 until the month is amended.
    window = retroactive_disaster(site)
    assert availability_by_system((await client.get("/?month=2026-10")).text)["jpki"] == frozen
    assert jpki_figure((await client.get("/systems/jpki?month=2026-10")).text) == frozen_detail

    assert close_october(site, AMENDED_AT) == 2
    expected = f"第2版 — 2026-11-15 改訂: 災害による停止 #{window} を遡及登録"
    overview = (await client.get("/?month=2026-10")).text
    assert captions(overview) == [expected]
    assert availability_by_system(overview)["jpki"] != frozen
    detail = (await client.get("/systems/jpki?month=2026-10")).text
    assert captions(detail) == [expected] and jpki_figure(detail) != frozen_detail
    service = (await client.get("/systems/jpki/main?month=2026-10")).text
    assert captions(service) == [expected]

    await client.get("/lang/en?next=/")
    english = (await client.get("/?month=2026-10")).text
    assert captions(english) == [
        f"Version 2 — amended 2026-11-15: disaster window #{window} registered retroactively"
    ]


async def test_the_reports_page_offers_every_version(client: httpx.AsyncClient, site: Site) -> None:
    assert close_october(site, CLOSED_AT) == 1
    retroactive_disaster(site)
    assert close_october(site, AMENDED_AT) == 2
    page = (await client.get("/reports")).text
    assert captions(page)[0].startswith("第2版 — 2026-11-15 改訂")
    assert "/reports/monthly?month=2026-10&amp;format=pdf&amp;lang=ja&amp;version=1" in page
    latest = await client.get("/reports/monthly?month=2026-10&format=json&lang=ja")
    assert latest.status_code == 200 and latest.json()["version"] == 2
    assert 'filename="kadou-2026-10-ja-v2.json"' in latest.headers["content-disposition"]
    first = await client.get("/reports/monthly?month=2026-10&format=csv&lang=en&version=1")
    assert first.status_code == 200
    assert 'filename="kadou-2026-10-en.csv"' in first.headers["content-disposition"]
    missing = await client.get("/reports/monthly?month=2026-10&format=csv&lang=en&version=3")
    assert missing.status_code == 404
