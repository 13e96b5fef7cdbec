"""The fiscal-year sheet shows each closed month as its latest version (SLA-SEMANTICS §8, §9),
and the year's figures add up with the month rows. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.catalog import load_catalog
from app.catalog.model import Catalog
from app.evaluation import FISCAL_YEAR_FIELDS as FIGURES
from app.evaluation import evaluate_period, report_document
from app.history import record_catalog
from app.months import close_month, year_with_closed_months
from app.reports.service import build_report
from app.sla import periods
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from tests.integration.test_fiscal_year import probe_month
from tests.integration.test_months import _changed_catalog

JST = ZoneInfo("Asia/Tokyo")
CHECK = "jpki/main/http"
OCTOBER = periods.month(2026, 10, "Asia/Tokyo")
CLOSING = datetime(2026, 11, 1, 0, 10, tzinfo=JST)
NOW = datetime(2026, 11, 20, 12, tzinfo=JST)


def _sheet(sessions: Any, catalog: Catalog) -> dict[str, Any]:
    with sessions() as session:
        return build_report(
            session,
            catalog,
            kind="fiscal_year",
            label="2026",
            fmt="json",
            lang="ja",
            timezone="Asia/Tokyo",
            now=NOW,
        ).document


def _year_json(sessions: Any, catalog: Catalog) -> dict[str, Any]:
    """What ``kadou report --fiscal-year --format json`` and the API answer."""
    with sessions() as session:
        period = periods.fiscal_year(2026, "Asia/Tokyo")
        result = evaluate_period(session, catalog, period, now=NOW)
        return year_with_closed_months(session, result, report_document(catalog, result))


def _agrees(sheet: dict[str, Any], year: dict[str, Any]) -> None:
    """The year's figures are the same in the sheet and in the period's JSON."""
    entries = {(s["system"], s["service"]): s for s in year["services"]}
    entries |= {(s["system"], None): s for s in year["systems"]}
    for row in sheet["rows"]:
        entry = entries[(row["system"], row["service"])]
        for name in FIGURES:
            assert row[name] == entry[name], (row["system"], row["service"], name)
    assert sheet["closed_months"] == year["closed_months"]


def _row(sheet: dict[str, Any], service: str | None = "main") -> dict[str, Any]:
    return next(r for r in sheet["rows"] if r["system"] == "jpki" and r["service"] == service)


def _month(row: dict[str, Any], label: str) -> dict[str, Any]:
    return next(m for m in row["months"] if m["label"] == label)


def _frozen(document: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in document["services"] if (s["system"], s["service"]) == ("jpki", "main"))


def _sum(row: dict[str, Any], name: str) -> Decimal:
    return sum((Decimal(repr(m[name])) for m in row["months"] if m[name] is not None), Decimal(0))


def _adds_up(row: dict[str, Any]) -> None:
    for name in ("scheduled_seconds", "downtime_seconds", "unknown_seconds"):
        assert Decimal(repr(row[name])) == _sum(row, name), name


def test_a_closed_month_stays_as_closed_in_the_year_until_amended(migrated_url: str) -> None:
    sessions = session_factory(make_engine(migrated_url))
    catalog = load_catalog()
    record_catalog(sessions, catalog, "test", at=datetime(2026, 4, 1, tzinfo=JST))
    probe_month(sessions, 2026, 10, down_minutes=30)
    first = close_month(sessions, catalog, OCTOBER, actor="export", now=CLOSING)
    assert first is not None
    open_sheet = _sheet(sessions, catalog)
    october = _month(_row(open_sheet), "2026-10")
    assert october["version"] == 1 and october["closed_at"] == first.document["closed_at"]
    assert _month(_row(open_sheet), "2026-11")["version"] is None  # still running
    _adds_up(_row(open_sheet))

    # A higher target from 10 November, and late observations of October that the month
    # has not been amended for yet: October's row stays as closed.
    changed = _changed_catalog()
    assert record_catalog(sessions, changed, "test", at=datetime(2026, 11, 10, tzinfo=JST))
    # Between two minute probes already stored: five new failures, ten seconds apart.
    late = datetime(2026, 10, 25, 3, tzinfo=JST)
    params = {CHECK: TimelineParams(2, 180_000)}
    with transaction(sessions) as session:
        store_observations(
            session,
            [
                ObservationIn(CHECK, "tokyo", late + timedelta(seconds=10 * m), False)
                for m in range(1, 6)
            ],
            params,
        )
    sheet = _sheet(sessions, changed)
    row = _row(sheet)
    october = _month(row, "2026-10")
    frozen = _frozen(first.document)
    assert october["version"] == 1
    for name in ("availability", "availability_display", "met", "downtime_seconds", "coverage"):
        assert october[name] == frozen[name], name
    assert october["downtime_seconds"] == 1800
    assert row["target"] == 0.9999  # the year is judged by the year-end target
    _adds_up(row)
    _adds_up(_row(sheet, None))
    _agrees(sheet, _year_json(sessions, changed))
    assert sheet["closed_months"][0]["version"] == 1

    amended = close_month(sessions, changed, OCTOBER, actor="export", now=NOW)
    assert amended is not None and amended.version == 2
    sheet = _sheet(sessions, changed)
    row = _row(sheet)
    october = _month(row, "2026-10")
    assert october["version"] == 2
    _agrees(sheet, _year_json(sessions, changed))
    assert october["downtime_seconds"] == _frozen(amended.document)["downtime_seconds"] > 1800
    assert row["downtime_seconds"] == october["downtime_seconds"]
    _adds_up(row)
