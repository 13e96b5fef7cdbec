"""Structure instant by instant inside a period (SLA-SEMANTICS §8), on SQLite and PostgreSQL.

Each test records two catalog versions around a change in the middle of October 2026 and
checks the month's figures to the second: a service added, a check removed, hours changed,
a service removed, a target changed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.loader import parse_catalog
from app.catalog.model import Catalog
from app.cli.report import render_table
from app.evaluation import evaluate_period, report_document
from app.evidence import build_bundle, verify_bundle
from app.history import record_catalog
from app.main import create_app
from app.months import close_month
from app.reports.render import render_monthly
from app.runtime import open_runtime, upgrade
from app.settings import Settings
from app.sla import periods
from app.store import history
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.tokens import create_token
from tests.integration.test_web_pages import sign_in

JST = ZoneInfo("Asia/Tokyo")
OCTOBER = periods.month(2026, 10, "Asia/Tokyo")
MONTH_START = datetime(2026, 10, 1, tzinfo=JST)
MONTH_END = datetime(2026, 11, 1, tzinfo=JST)
AFTER = datetime(2026, 11, 3, tzinfo=JST)
DAY = 86_400
STEP = timedelta(minutes=5)
# A 5-minute interval: stale after 15 minutes (three intervals), confirmed by 2 failures.
PARAMS = TimelineParams(2, 15 * 60_000)


def _service(
    service_id: str,
    checks: Iterable[str] = ("http",),
    *,
    target: str = "0.999",
    hours: str = "",
    core: bool = True,
    confirm: int = 2,
    stale_after: str = "15m",
) -> str:
    check_lines = "".join(
        f"""
          - id: {check_id}
            type: http
            url: http://127.0.0.1:9/{service_id}/{check_id}
            interval: 5m
            timeout: 10s
            confirm: {confirm}
            stale_after: {stale_after}"""
        for check_id in checks
    )
    extra = (f"\n        hours: {hours}" if hours else "") + (
        "" if core else "\n        core: false"
    )
    return f"""
      - id: {service_id}
        name: {{ja: {service_id}, en: {service_id}}}
        target: {target}{extra}
        checks:{check_lines}"""


def _catalog(*services: str, target: str = "0.999") -> Catalog:
    text = f"""\
systems:
  - id: jpki
    name: {{ja: JPKI, en: JPKI}}
    target: {target}
    services:{"".join(services)}
"""
    return parse_catalog(text, "pieces.yaml")


def _sessions(url: str, *versions: tuple[datetime, Catalog]) -> sessionmaker[Session]:
    sessions = session_factory(make_engine(url))
    for at, catalog in versions:
        assert record_catalog(sessions, catalog, "test", at=at) is not None
    return sessions


def _probe(
    sessions: sessionmaker[Session],
    check: str,
    start: datetime,
    end: datetime,
    failing: Iterable[tuple[datetime, datetime]] = (),
    params: TimelineParams = PARAMS,
) -> None:
    """One result every 5 minutes in [start, end); failed inside the ``failing`` ranges."""
    spans = list(failing)
    batch = []
    at = start
    while at < end:
        ok = not any(low <= at < high for low, high in spans)
        batch.append(ObservationIn(check, "tokyo", at, ok))
        at += STEP
    with transaction(sessions) as session:
        store_observations(session, batch, {check: params})


def _october(sessions: sessionmaker[Session], catalog: Catalog) -> dict[str, Any]:
    with sessions() as session:
        result = evaluate_period(session, catalog, OCTOBER, now=AFTER)
    return report_document(catalog, result)


def _row(document: dict[str, Any], service: str | None) -> dict[str, Any]:
    rows = document["services"] if service else document["systems"]
    return next(row for row in rows if row.get("service") == service)


def test_a_service_added_on_the_15th_is_scheduled_from_the_15th(migrated_url: str) -> None:
    before = _catalog(_service("main"))
    after = _catalog(_service("main"), _service("new"))
    added = datetime(2026, 10, 15, tzinfo=JST)
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), before), (added, after))
    _probe(sessions, "jpki/main/http", MONTH_START - timedelta(days=1), AFTER)
    # Probed (and failing) before it was in the catalog: that time is not its.
    _probe(sessions, "jpki/new/http", added - timedelta(days=2), added)
    _probe(sessions, "jpki/new/http", added, AFTER)

    document = _october(sessions, after)
    new = _row(document, "new")
    assert new["scheduled_seconds"] == 17 * DAY
    assert new["unknown_seconds"] == 0 and new["downtime_seconds"] == 0
    assert new["availability"] == 1.0 and new["incidents"] == []
    assert _row(document, "main")["scheduled_seconds"] == 31 * DAY
    assert _row(document, None)["scheduled_seconds"] == 31 * DAY
    assert [v["sha256"] for v in document["catalog_versions"]] == [
        row.sha256 for row in _versions(sessions)
    ]


def _versions(sessions: sessionmaker[Session]) -> list[Any]:
    with sessions() as session:
        return history.catalog_versions(session)


def test_a_check_removed_mid_month_is_neither_down_nor_unknown_after(migrated_url: str) -> None:
    before = _catalog(_service("main", ("http", "api")))
    after = _catalog(_service("main", ("http",)))
    removed = datetime(2026, 10, 20, 12, tzinfo=JST)
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), before), (removed, after))
    _probe(sessions, "jpki/main/http", MONTH_START - timedelta(days=1), AFTER)
    # Down for 30 minutes on the 5th while it was in the catalog; after its removal a
    # forgotten agent still reports it failing, then it goes silent.
    outage = datetime(2026, 10, 5, 10, tzinfo=JST)
    _probe(
        sessions,
        "jpki/main/api",
        MONTH_START - timedelta(days=1),
        removed + timedelta(days=3),
        failing=[(outage, outage + timedelta(minutes=30)), (removed, AFTER)],
    )

    main = _row(_october(sessions, after), "main")
    assert main["scheduled_seconds"] == 31 * DAY
    assert main["downtime_seconds"] == 1800
    assert main["unknown_seconds"] == 0
    assert len(main["incidents"]) == 1
    # The removed check's observations are kept.
    with sessions() as session:
        kept = list(
            history.observations_between(
                session, ["jpki/main/api"], removed, removed + timedelta(days=3)
            )
        )
    assert len(kept) == 3 * 24 * 12 and not any(row[3] for row in kept)


def test_hours_changed_mid_month_apply_piecewise_and_targets_are_the_end_s(
    migrated_url: str,
) -> None:
    before = _catalog(_service("main", target="0.999"), target="0.999")
    after = _catalog(
        _service("main", target="0.9999", hours='{daily: "09:00-18:00"}'), target="0.9999"
    )
    changed = datetime(2026, 10, 16, tzinfo=JST)
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), before), (changed, after))
    _probe(sessions, "jpki/main/http", MONTH_START - timedelta(days=1), AFTER)

    document = _october(sessions, after)
    main = _row(document, "main")
    assert main["scheduled_seconds"] == 15 * DAY + 16 * 9 * 3600
    assert main["target"] == 0.9999 and main["target_display"] == "99.99%"
    assert _row(document, None)["target"] == 0.9999
    assert _row(document, None)["scheduled_seconds"] == 15 * DAY + 16 * 9 * 3600
    # The strip shows the closed hours only from the change on.
    with sessions() as session:
        pictured = report_document(
            after, evaluate_period(session, after, OCTOBER, now=AFTER), pictures=True
        )
    strip = _row(pictured, "main")["strip"]
    assert [(run["end"], run["state"]) for run in strip[:4]] == [
        ("2026-10-16T00:00:00+09:00", "up"),
        ("2026-10-16T09:00:00+09:00", "outside_hours"),
        ("2026-10-16T18:00:00+09:00", "up"),
        ("2026-10-17T09:00:00+09:00", "outside_hours"),
    ]


def test_confirm_changed_mid_month_labels_each_part_with_its_own(migrated_url: str) -> None:
    before = _catalog(_service("main", confirm=2))
    after = _catalog(_service("main", confirm=4))
    changed = datetime(2026, 10, 15, tzinfo=JST)
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), before), (changed, after))
    # Three failures in a row on the 5th (confirmed under confirm 2) and on the 20th (a
    # blip under confirm 4). The store labels the whole history with the current confirm.
    first, second = datetime(2026, 10, 5, 10, tzinfo=JST), datetime(2026, 10, 20, 10, tzinfo=JST)
    _probe(
        sessions,
        "jpki/main/http",
        MONTH_START - timedelta(days=1),
        AFTER,
        failing=[(first, first + 3 * STEP), (second, second + 3 * STEP)],
        params=TimelineParams(4, 15 * 60_000),
    )

    main = _row(_october(sessions, after), "main")
    assert main["downtime_seconds"] == 15 * 60
    assert [incident["start"] for incident in main["incidents"]] == ["2026-10-05T10:00:00+09:00"]
    assert main["blips"] == 1
    # A late pair of failures on the 8th (an outage under confirm 2): the part labelled
    # again is not kept from the evaluation before.
    late = datetime(2026, 10, 8, 4, 2, tzinfo=JST)
    with transaction(sessions) as session:
        store_observations(
            session,
            [
                ObservationIn("jpki/main/http", "tokyo", late + timedelta(minutes=m), False)
                for m in (0, 1)
            ],
            {"jpki/main/http": TimelineParams(4, 15 * 60_000)},
        )
    main = _row(_october(sessions, after), "main")
    assert main["downtime_seconds"] == 15 * 60 + 3 * 60
    assert len(main["incidents"]) == 2


def test_a_service_removed_mid_month_stays_in_the_month_for_the_time_it_existed(
    migrated_url: str,
) -> None:
    before = _catalog(_service("main"), _service("old"))
    after = _catalog(_service("main"))
    removed = datetime(2026, 10, 11, tzinfo=JST)
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), before), (removed, after))
    _probe(sessions, "jpki/main/http", MONTH_START - timedelta(days=1), AFTER)
    outage = datetime(2026, 10, 3, 1, tzinfo=JST)
    _probe(
        sessions,
        "jpki/old/http",
        MONTH_START - timedelta(days=1),
        removed,
        failing=[(outage, outage + timedelta(hours=1))],
    )

    document = _october(sessions, after)
    assert [row["service"] for row in document["services"]] == ["main", "old"]
    old = _row(document, "old")
    assert old["removed_at"] == "2026-10-11T00:00:00+09:00"
    assert old["scheduled_seconds"] == 10 * DAY
    assert old["downtime_seconds"] == 3600 and old["unknown_seconds"] == 0
    assert "removed_at" not in _row(document, "main")
    # The system's month includes the removed core service's outage.
    system = _row(document, None)
    assert system["downtime_seconds"] == 3600 and len(system["incidents"]) == 1
    # Every report format lists it.
    with sessions() as session:
        pictured = report_document(
            after, evaluate_period(session, after, OCTOBER, now=AFTER), pictures=True
        )
    for fmt in ("csv", "html", "xlsx", "json"):
        assert render_monthly(pictured, fmt, "en")
    assert "old" in render_monthly(pictured, "csv", "en").decode("utf-8-sig")
    table = render_table(document).splitlines()
    assert next(line for line in table if line.startswith("jpki/old ")).endswith(
        "removed 2026-10-11"
    )


def test_a_change_that_leaves_structure_alone_gives_the_single_version_figures(
    migrated_url: str,
) -> None:
    """Only a target moved: every figure is the one-version evaluation's, to the byte."""
    before = _catalog(_service("main", target="0.99"))
    after = _catalog(_service("main", target="0.999"))
    outage = datetime(2026, 10, 7, 3, tzinfo=JST)
    one = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), after))
    _probe(
        one,
        "jpki/main/http",
        MONTH_START - timedelta(days=1),
        AFTER,
        failing=[(outage, outage + timedelta(minutes=40))],
    )
    single = _october(one, after)
    assert record_catalog(one, before, "test", at=datetime(2026, 10, 10, tzinfo=JST))
    assert record_catalog(one, after, "test", at=datetime(2026, 10, 12, tzinfo=JST))
    two = _october(one, after)
    assert len(two["catalog_versions"]) == 3
    assert {**two, "catalog_versions": None} == {**single, "catalog_versions": None}


@pytest.mark.parametrize("segments", [False, True], ids=["observations", "segments"])
def test_a_closed_month_with_a_catalog_change_verifies_from_its_bundle(
    migrated_url: str, tmp_path: Path, segments: bool
) -> None:
    """Closing and verifying use the same pieces: the bundle carries every version."""
    before = _catalog(_service("main", ("http", "api")), _service("old"))
    after = _catalog(_service("main", ("http",), confirm=3), _service("new"))
    changed = datetime(2026, 10, 18, 6, tzinfo=JST)
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), before), (changed, after))
    outage = datetime(2026, 10, 4, 8, tzinfo=JST)
    # Two failures on the 6th: an outage under October's first confirm (2), not under 3.
    short = datetime(2026, 10, 6, 3, tzinfo=JST)
    _probe(
        sessions,
        "jpki/main/http",
        MONTH_START - timedelta(days=1),
        AFTER,
        failing=[(short, short + 2 * STEP)],
        params=TimelineParams(3, 15 * 60_000),
    )
    _probe(
        sessions,
        "jpki/main/api",
        MONTH_START - timedelta(days=1),
        AFTER,
        failing=[(outage, outage + timedelta(minutes=20)), (changed, AFTER)],
    )
    _probe(sessions, "jpki/old/http", MONTH_START - timedelta(days=1), changed)
    _probe(sessions, "jpki/new/http", changed, AFTER)

    closed = close_month(sessions, after, OCTOBER, actor="export", now=MONTH_END + STEP)
    assert closed is not None
    document = closed.document
    assert len(document["catalog_versions"]) == 2
    assert [row["service"] for row in document["services"]] == ["main", "new", "old"]
    assert _row(document, "main")["downtime_seconds"] == 1200 + 600
    assert _row(document, "new")["scheduled_seconds"] == 31 * DAY - (17 * DAY + 6 * 3600)
    assert _row(document, "old")["scheduled_seconds"] == 17 * DAY + 6 * 3600
    # Closing again finds nothing changed.
    assert close_month(sessions, after, OCTOBER, actor="export", now=AFTER) is None

    with sessions() as session:
        body = build_bundle(session, after, "2026-10", "Asia/Tokyo", segments=segments, now=AFTER)
    path = tmp_path / "evidence-2026-10.zip"
    path.write_bytes(body)
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
    assert {f"catalog/{row.sha256}.json" for row in _versions(sessions)} <= names
    verification = verify_bundle(path)
    assert verification.identical, verification.lines()


def test_the_worked_example_of_section_8(migrated_url: str) -> None:
    """docs/semantics.md §8's worked example, figure by figure."""
    version_a = _catalog(
        _service("main", ("http", "api")), _service("batch"), _service("old"), target="0.999"
    )
    version_b = _catalog(
        _service("main", ("http",), target="0.9999"),
        _service("batch", target="0.9999", hours='{daily: "09:00-18:00"}'),
        _service("new", target="0.9999"),
        target="0.9999",
    )
    changed = datetime(2026, 10, 16, tzinfo=JST)
    sessions = _sessions(
        migrated_url, (datetime(2026, 9, 1, tzinfo=JST), version_a), (changed, version_b)
    )
    early, late = MONTH_START - timedelta(days=1), AFTER
    api_outage = datetime(2026, 10, 5, 10, tzinfo=JST)
    old_outage = datetime(2026, 10, 3, 1, tzinfo=JST)
    _probe(sessions, "jpki/main/http", early, late)
    _probe(
        sessions,
        "jpki/main/api",
        early,
        late,
        failing=[(api_outage, api_outage + timedelta(minutes=30)), (changed, late)],
    )
    _probe(sessions, "jpki/batch/http", early, late)
    _probe(
        sessions,
        "jpki/old/http",
        early,
        changed,
        failing=[(old_outage, old_outage + timedelta(hours=1))],
    )
    _probe(
        sessions, "jpki/new/http", changed - timedelta(days=2), changed, failing=[(early, changed)]
    )
    _probe(sessions, "jpki/new/http", changed, late)

    document = _october(sessions, version_b)
    assert [row["service"] for row in document["services"]] == ["main", "batch", "new", "old"]
    new, main, batch, old = (_row(document, name) for name in ("new", "main", "batch", "old"))
    assert (new["scheduled_seconds"], new["downtime_seconds"], new["unknown_seconds"]) == (
        1_382_400,
        0,
        0,
    )
    assert new["incidents"] == []
    assert (main["scheduled_seconds"], main["downtime_seconds"], main["unknown_seconds"]) == (
        2_678_400,
        1_800,
        0,
    )
    assert batch["scheduled_seconds"] == 1_814_400
    assert old["removed_at"] == "2026-10-16T00:00:00+09:00"
    assert (old["scheduled_seconds"], old["downtime_seconds"]) == (1_296_000, 3_600)
    assert old["target"] == 0.999  # its last version's
    system = _row(document, None)
    assert system["target"] == main["target"] == new["target"] == batch["target"] == 0.9999
    assert system["downtime_seconds"] == 5_400 and len(system["incidents"]) == 2


async def test_pages_and_metrics_with_a_service_and_a_system_removed_this_month(
    sqlite_url: str,
) -> None:
    """The running month: the system page lists the removed service without a link, the
    status page and /metrics show only what is in the catalog now, and the system's
    figures still count the removed service's outage."""
    text = """\
systems:
  - id: jpki
    name: {ja: JPKI, en: JPKI}
    target: 0.999
    services:%s
  - id: legacy
    name: {ja: 旧システム, en: Legacy}
    target: 0.999
    services:%s
"""
    before = parse_catalog(text % (_service("main") + _service("old"), _service("app")), "a")
    after = _catalog(_service("main"))
    removed = datetime(2026, 10, 11, tzinfo=JST)
    upgrade(sqlite_url)
    sessions = _sessions(sqlite_url, (datetime(2026, 9, 1, tzinfo=JST), before), (removed, after))
    clock = datetime(2026, 10, 25, 9, tzinfo=JST)
    _probe(sessions, "jpki/main/http", MONTH_START - timedelta(days=1), clock)
    outage = datetime(2026, 10, 3, 1, tzinfo=JST)
    _probe(
        sessions,
        "jpki/old/http",
        MONTH_START - timedelta(days=1),
        removed,
        failing=[(outage, outage + timedelta(hours=1))],
    )
    _probe(sessions, "legacy/app/http", MONTH_START - timedelta(days=1), removed)

    runtime = open_runtime(Settings(database_url=sqlite_url, timezone="Asia/Tokyo"), catalog=after)
    with transaction(runtime.sessions) as session:
        _, secret = create_token(session, name="viewer", role="viewer", actor="test")
    app = create_app(
        runtime, now=lambda: clock, current_max_age_seconds=0, metrics_refresh_seconds=None
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kadou.test") as http:
        headers = {"Authorization": f"Bearer {secret}"}
        await sign_in(http, secret)
        page = (await http.get("/systems/jpki?month=2026-10", headers=headers)).text
        assert "2026-10-11 に削除" in page
        assert 'href="/systems/jpki/old' not in page and 'href="/systems/jpki/main' in page
        status = await http.get("/status", headers=headers)
        assert status.status_code == 200 and "旧システム" not in status.text
        metrics = (await http.get("/metrics", headers=headers)).text
        api = (await http.get("/api/v1/availability?month=2026-10", headers=headers)).json()
    assert 'service="old"' not in metrics and 'system="legacy"' not in metrics
    assert 'kadou_sla_downtime_seconds{period="2026-10",service="",system="jpki"} 3600.0' in metrics
    assert _row(api, "old")["removed_at"] == "2026-10-11T00:00:00+09:00"
    legacy = next(row for row in api["systems"] if row["system"] == "legacy")
    assert legacy["removed_at"] == "2026-10-11T00:00:00+09:00"
    assert legacy["scheduled_seconds"] == 10 * DAY


@pytest.mark.parametrize("changed", ["confirm", "stale_after"])
def test_a_labelling_change_after_a_closed_month_does_not_amend_it(
    migrated_url: str, tmp_path: Path, changed: str
) -> None:
    """§8: the closed month keeps its own confirm/stale_after when the store relabels."""
    october = _catalog(_service("main"))
    later = _catalog(
        _service("main", confirm=3) if changed == "confirm" else _service("main", stale_after="1h")
    )
    later_params = (
        TimelineParams(3, 15 * 60_000) if changed == "confirm" else TimelineParams(2, 60 * 60_000)
    )
    sessions = _sessions(migrated_url, (datetime(2026, 9, 1, tzinfo=JST), october))
    # Two failures on the 6th (an outage under confirm 2, a blip under 3) and a 40-minute
    # silence on the 9th (partly unknown when stale after 15 minutes, not after 1 hour).
    short = datetime(2026, 10, 6, 3, tzinfo=JST)
    silent = datetime(2026, 10, 9, 12, tzinfo=JST)
    _probe(
        sessions,
        "jpki/main/http",
        MONTH_START - timedelta(days=1),
        silent,
        failing=[(short, short + 2 * STEP)],
    )
    _probe(sessions, "jpki/main/http", silent + timedelta(minutes=40), AFTER)
    closed = close_month(sessions, october, OCTOBER, actor="export", now=AFTER)
    assert closed is not None
    before = _row(closed.document, "main")
    assert before["downtime_seconds"] == 600 and before["unknown_seconds"] == 30 * 60

    # The catalog changes after the month; the next results relabel the stored history.
    assert record_catalog(sessions, later, "test", at=AFTER + timedelta(hours=1))
    _probe(
        sessions,
        "jpki/main/http",
        AFTER + timedelta(hours=1),
        AFTER + timedelta(hours=2),
        params=later_params,
    )
    with sessions() as session:
        assert (
            history.segments_digest(session, ["jpki/main/http"], MONTH_START, MONTH_END)
            != closed.segments_digest
        ), "the stored timeline was not relabelled"

    now = AFTER + timedelta(hours=3)
    assert close_month(sessions, later, OCTOBER, actor="export", now=now) is None
    with sessions() as session:
        assert len(history.month_versions(session, "2026-10")) == 1
        again = report_document(october, evaluate_period(session, october, OCTOBER, now=now))
    assert _row(again, "main")["downtime_seconds"] == 600
    assert _row(again, "main")["unknown_seconds"] == 30 * 60
    assert _row(again, "main")["incidents"] == before["incidents"]
    # The month's evidence bundle of segments still verifies against its version.
    with sessions() as session:
        body = build_bundle(session, later, "2026-10", "Asia/Tokyo", segments=True, now=now)
    path = tmp_path / "evidence-2026-10.zip"
    path.write_bytes(body)
    verification = verify_bundle(path)
    assert verification.identical, verification.lines()
