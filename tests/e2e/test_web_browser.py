"""The pages in a real Chromium (Debian's, driven by Playwright) against a real uvicorn.

The server runs in a background thread on a free loopback port, over a SQLite file with
the sample month imported through the normal path. Screenshots of every page go to
``$KADOU_SCREENSHOT_DIR`` (or the test's tmp_path) to be looked at.

Skipped, with the reason, when /usr/bin/chromium or the playwright package is missing —
except with CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.integration.test_web_pages import (
    DATA_END,
    DATA_START,
    START_CLOCK,
    ZONE,
    Clock,
    build_app,
    make_runtime,
    seed,
)
from tests.support.ports import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1280, "height": 900}


def _missing_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install playwright)"
    return None


class LiveServer:
    """uvicorn serving ``app`` from a thread, with its lifespan (and so its probe runner)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="kadou-web-e2e", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = _missing_browser()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], Path]:
    folder = Path(os.environ.get("KADOU_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("web-e2e") / "seed.db"
    runtime = make_runtime(f"sqlite:///{path}")
    secrets = seed(runtime, DATA_START, DATA_END)
    runtime.engine.dispose()
    return path, secrets


class Site:
    def __init__(self, server: LiveServer, clock: Clock, secrets: dict[str, str]) -> None:
        self.server = server
        self.clock = clock
        self.secrets = secrets

    def api(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.secrets['viewer']}"}
        response = httpx.get(self.server.url + path, headers=headers, timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def site(seeded: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Site]:
    source, secrets = seeded
    copy = tmp_path / "kadou.db"
    shutil.copyfile(source, copy)
    runtime = make_runtime(f"sqlite:///{copy}")
    clock = Clock(START_CLOCK)
    with LiveServer(build_app(runtime, clock)) as server:
        yield Site(server, clock, secrets)
    runtime.engine.dispose()


def sign_in(page: Page, site: Site, role: str) -> None:
    page.goto(site.server.url + "/login")
    page.fill("#token", site.secrets[role])
    page.click("form.login button[type=submit]")
    page.wait_for_url(site.server.url + "/")


def shown_availability(page: Page) -> dict[str, str]:
    shown: dict[str, str] = page.eval_on_selector_all(
        "li.card[data-system]",
        """cards => Object.fromEntries(cards.map(card => [
            card.dataset.system,
            card.querySelector('.availability').textContent.trim()]))""",
    )
    return shown


def test_overview_shows_the_api_availability(browser: Browser, site: Site, shots: Any) -> None:
    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, site, "viewer")
    api = site.api("/api/v1/availability?month=2026-10")
    expected = {row["system"]: row["availability_display"] for row in api["systems"]}
    assert shown_availability(page) == expected
    shots(page, "overview-laptop")
    for path, name in [
        ("/systems/info-network", "system-info-network"),
        ("/systems/mynaportal/records", "service-mynaportal-records"),
        ("/incidents", "incidents"),
        ("/exclusions", "exclusions-viewer"),
        ("/reports", "reports"),
        ("/audit", "audit"),
        ("/status", "status"),
    ]:
        page.goto(site.server.url + path)
        assert page.locator("h1").count() == 1
        shots(page, name)
    page.close()


def test_a_wrong_token_is_refused(browser: Browser, site: Site, shots: Any) -> None:
    page = browser.new_page(viewport=LAPTOP)
    page.goto(site.server.url + "/")
    assert page.url.startswith(site.server.url + "/login")
    page.fill("#token", "kadou_wrong")
    page.click("form.login button[type=submit]")
    alert = page.locator("#login-error")
    alert.wait_for()
    assert "無効か失効" in alert.inner_text()
    assert page.locator("#token").get_attribute("aria-invalid") == "true"
    shots(page, "login-refused")
    page.goto(site.server.url + "/")
    assert "/login" in page.url
    page.close()


def test_a_viewer_cannot_see_the_form(browser: Browser, site: Site) -> None:
    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, site, "viewer")
    page.goto(site.server.url + "/exclusions")
    assert page.locator("form.window-form").count() == 0
    assert "運用者または管理者" in page.inner_text("main")
    page.close()


def test_operator_registers_a_planned_window_and_the_report_changes(
    browser: Browser, site: Site, shots: Any
) -> None:
    # What the month would be at midnight without the window, then back to 09:00.
    site.clock.now = datetime(2026, 10, 26, 0, 0, tzinfo=ZONE)
    before = site.api("/api/v1/availability?month=2026-10&system=account-registration")
    site.clock.now = START_CLOCK
    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, site, "operator")
    page.goto(site.server.url + "/exclusions")
    # First a mistake: the end before the start; the message names the field.
    page.select_option("#scope", "account-registration")
    page.fill("#start", "2026-10-25T10:00")
    page.fill("#end", "2026-10-25T09:10")
    page.fill("#reason", "DB migration")
    page.click("form.window-form button[type=submit]")
    error = page.locator("#end-error")
    error.wait_for()
    assert "終了は開始より後" in error.inner_text()  # the page is in Japanese by default
    shots(page, "exclusions-error")
    page.fill("#start", "2026-10-25T09:10")
    page.fill("#end", "2026-10-25T10:00")
    page.click("form.window-form button[type=submit]")
    page.locator("[data-audit-entry]").wait_for()
    assert "DB migration" in page.inner_text("[data-audit-entry]")
    shots(page, "exclusions-registered")
    # Time passes over the window: the 12-minute outage inside it no longer counts.
    site.clock.now = datetime(2026, 10, 26, 0, 0, tzinfo=ZONE)
    after = site.api("/api/v1/availability?month=2026-10&system=account-registration")
    assert before["systems"][0]["excluded_seconds"]["planned"] == 0
    assert after["systems"][0]["excluded_seconds"]["planned"] == 50 * 60
    assert before["systems"][0]["downtime_seconds"] > 0
    assert after["systems"][0]["downtime_seconds"] == 0
    assert (
        after["systems"][0]["availability_display"] != before["systems"][0]["availability_display"]
    )
    page.goto(site.server.url + "/")
    assert (
        shown_availability(page)["account-registration"]
        == after["systems"][0]["availability_display"]
    )
    page.close()


def test_pages_fit_a_phone(browser: Browser, site: Site, shots: Any) -> None:
    page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    sign_in(page, site, "admin")
    for path, name in [
        ("/", "overview-phone"),
        ("/systems/info-network", "system-phone"),
        ("/exclusions", "exclusions-phone"),
        ("/status", "status-phone"),
        ("/incidents", "incidents-phone"),
        ("/audit", "audit-phone"),
    ]:
        page.goto(site.server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        shots(page, name)
        assert width <= PHONE["width"], f"{path} is {width}px wide at 390px"
    page.close()


def test_no_page_breaks_the_content_security_policy(browser: Browser, site: Site) -> None:
    """Every page works under the strict CSP: Chromium reports no violation, and the
    overview's script still runs (it is a static file)."""
    page = browser.new_page(viewport=LAPTOP)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, site, "admin")
    for path in (
        "/?refresh=1",
        "/systems/info-network",
        "/incidents",
        "/exclusions",
        "/audit",
        "/reports",
        "/status",
        "/login",
    ):
        response = page.goto(site.server.url + path)
        assert response is not None and response.headers["x-frame-options"] == "DENY"
    page.goto(site.server.url + "/?refresh=1")
    # A locator, not wait_for_function: that evaluates a string, which the CSP forbids.
    page.locator("#overview-live[data-refreshed-at]").wait_for()
    assert violations == []
    page.close()


def test_detail_page_shows_the_daily_chart_and_a_readable_legend(
    browser: Browser, site: Site, shots: Any
) -> None:
    for viewport, suffix in ((LAPTOP, "laptop"), (PHONE, "phone")):
        page = browser.new_page(viewport=viewport)
        sign_in(page, site, "viewer")
        page.goto(site.server.url + "/systems/mynaportal/records?month=2026-10")
        assert page.locator("svg.chart.daily").is_visible()
        assert page.locator("svg.chart.strip .run-future").count() == 1
        sizes = page.eval_on_selector_all(
            "ul.legend li",
            "items => items.map(item => parseFloat(getComputedStyle(item).fontSize))",
        )
        assert len(sizes) == 6 and min(sizes) >= 14
        assert page.get_by_text("稼働実績", exact=True).count() == 1
        shots(page, f"detail-{suffix}")
        page.close()


def test_incidents_and_audit_read_as_an_operator_expects(
    browser: Browser, site: Site, shots: Any
) -> None:
    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, site, "viewer")
    page.goto(site.server.url + "/incidents?month=2026-10")
    rows = page.locator("tr.incident-group")
    assert rows.count() == 4
    assert "情報提供等記録表示" in page.inner_text('tr.incident-group[data-system="mynaportal"]')
    shots(page, "incidents-grouped")
    page.goto(site.server.url + "/audit")
    first = page.locator("li.audit-item").first
    assert not first.locator("details.audit-json pre").is_visible()
    first.locator("details.audit-json summary").click()
    assert first.locator("details.audit-json pre").is_visible()
    # No word broken per letter: every header cell is at least as wide as a short word.
    widths = page.eval_on_selector_all(
        "table.changes th", "cells => cells.map(cell => cell.getBoundingClientRect().width)"
    )
    assert widths and min(widths) >= 24
    shots(page, "audit-readable")
    page.close()


def test_admin_ends_a_window_from_the_list(browser: Browser, site: Site, shots: Any) -> None:
    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, site, "admin")
    page.goto(site.server.url + "/exclusions")
    page.fill("#start", "2026-10-25T08:30")
    page.fill("#end", "2026-10-25T12:00")
    page.fill("#reason", "緊急メンテナンス")
    page.check("input[name=retroactive]")
    page.click("form.window-form button[type=submit]")
    page.locator("[data-audit-entry]").wait_for()
    row = page.locator("tr[data-exclusion]").filter(has_text="緊急メンテナンス")
    row.locator("details.window-actions summary").click()
    row.locator("input[name=reason]").fill("作業完了")
    shots(page, "exclusions-end-form")
    row.locator("button[value=end]").click()
    page.get_by_text("を終了しました").wait_for()
    assert (
        "2026-10-25 09:00"
        in page.locator("tr[data-exclusion]").filter(has_text="緊急メンテナンス").inner_text()
    )
    shots(page, "exclusions-ended")
    page.close()


def test_status_page_legend_first_and_coverage(browser: Browser, site: Site, shots: Any) -> None:
    page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page.goto(site.server.url + "/status")
    assert page.locator("#status-legend").is_visible()
    assert (
        page.locator("#status-legend").bounding_box()["y"]
        < page.locator(  # type: ignore[index]
            ".status-row"
        ).first.bounding_box()["y"]
    )  # type: ignore[index]
    assert "データのある25日間" in page.inner_text(".status-row >> nth=0")
    page.close()


# --- live: the simulator, the embedded probe runner, a fault -------------------------------


def simulator_catalog(urls: dict[str, str]) -> str:
    """The five systems with 1 s checks against the simulator's service ports."""
    from app.catalog.loader import default_catalog_text

    text = default_catalog_text()
    for service, url in urls.items():
        text = text.replace(f"http://127.0.0.1:8081/{service}/health", url)
    # A retry interval may not be longer than the interval: retries come every second too.
    return (
        text.replace("interval: 30s", "interval: 1s")
        .replace("retry_interval: 5s", "retry_interval: 1s")
        .replace("timeout: 10s", "timeout: 800ms")
    )


class SimulatorThread:
    """The simulator on its own event loop in a thread."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.urls: dict[str, str] = {}
        self.control_url = ""
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        from probes.simulator import SimulatorServer
        from probes.simulator.faults import DEFAULT_SERVICES

        async with SimulatorServer(
            "127.0.0.1", 0, service_ports=[0] * len(DEFAULT_SERVICES), jitter_ms=0
        ) as simulator:
            self.urls = {service: simulator.service_url(service) for service in DEFAULT_SERVICES}
            self.control_url = simulator.control_url
            self.ready.set()
            while not self.stop.is_set():
                await asyncio.sleep(0.05)

    def __enter__(self) -> SimulatorThread:
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("the simulator did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(timeout=20)


def test_a_fault_turns_the_service_red(browser: Browser, tmp_path: Path, shots: Any) -> None:
    pytest.importorskip("probes.runner", reason="the embedded probe runner is not there yet")
    from app.catalog.loader import parse_catalog
    from app.main import create_app
    from app.runtime import open_runtime, upgrade
    from app.settings import Settings

    url = f"sqlite:///{tmp_path}/live.db"
    upgrade(url)
    with SimulatorThread() as simulator:
        catalog = parse_catalog(simulator_catalog(simulator.urls), "live-test")
        check = catalog.checks()["jpki/main/http"]
        runtime = open_runtime(
            Settings(database_url=url, location="e2e", public_read=True), catalog=catalog
        )
        app = create_app(
            runtime, with_probes=True, current_max_age_seconds=0.2, metrics_refresh_seconds=None
        )
        refresh_seconds = 1
        with LiveServer(app) as server:
            page = browser.new_page(viewport=LAPTOP)
            page.goto(f"{server.url}/?refresh={refresh_seconds}")
            card = page.locator('li.card[data-system="jpki"]')
            # Up first, once a few probes have landed.
            card.and_(page.locator('[data-state="up"]')).wait_for(timeout=15_000)
            response = httpx.put(
                simulator.control_url + "/jpki/main", json={"fault": "error"}, timeout=5
            )
            assert response.status_code == 200
            # Expected after confirm × interval plus one refresh (bench/fault_to_red.py prints
            # how long it takes); the deadline only bounds the wait on a busy machine.
            expected = check.confirm * check.interval_ms / 1000 + refresh_seconds
            red = page.locator('li.card[data-system="jpki"][data-rag="red"][data-state="down"]')
            red.wait_for(timeout=(expected + 30) * 1000)
            shots(page, "overview-fault")
            assert "停止中" in card.inner_text()
            page.close()


def test_overview_is_refreshed_in_place(browser: Browser, site: Site) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport=LAPTOP)
    sign_in(page, site, "viewer")
    page.goto(site.server.url + "/?refresh=1")
    first = page.inner_text("[data-updated]")
    site.clock.now = START_CLOCK + timedelta(minutes=3)
    # The assertion polls from Playwright's side: the page's CSP forbids evaluating strings.
    expect(page.locator("[data-updated]")).not_to_have_text(first)
    assert page.url.endswith("/?refresh=1")  # the fragment was swapped, not the page reloaded
    page.close()
