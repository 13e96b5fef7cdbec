"""The fiscal-year sheet: April to March across the calendar year, computed over the year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.evaluation import fiscal_year_document
from app.reports.render import render_fiscal_year
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations

JST = ZoneInfo("Asia/Tokyo")
CHECK = "jpki/main/http"


def probe_month(sessions: sessionmaker[Session], year: int, month: int, down_minutes: int) -> None:
    start = datetime(year, month, 1, tzinfo=JST)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=JST)
    at, batch = start, []
    while at < end:
        failing = at - start < timedelta(minutes=down_minutes, seconds=-1)
        batch.append(ObservationIn(CHECK, "tokyo", at, not failing))
        at += timedelta(seconds=60)
    with transaction(sessions) as session:
        store_observations(session, batch, {CHECK: TimelineParams(2, 180_000)})


def test_fiscal_year_crosses_the_calendar_year(migrated_url: str) -> None:
    sessions = session_factory(make_engine(migrated_url))
    probe_month(sessions, 2026, 10, down_minutes=30)
    probe_month(sessions, 2027, 2, down_minutes=120)
    now = datetime(2027, 5, 1, tzinfo=UTC)
    with sessions() as session:
        sheet = fiscal_year_document(session, load_catalog(), 2026, "Asia/Tokyo", now=now)
    assert sheet["period"]["label_ja"] == "令和8年度"
    assert sheet["period"]["start"] == "2026-04-01T00:00:00+09:00"
    assert sheet["period"]["end"] == "2027-04-01T00:00:00+09:00"
    row = next(r for r in sheet["rows"] if r["system"] == "jpki" and r["service"] == "main")
    assert [m["label"] for m in row["months"]] == [
        "2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09",
        "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03",
    ]  # fmt: skip
    by_label = {m["label"]: m for m in row["months"]}
    assert by_label["2026-10"]["downtime_seconds"] == 1800
    assert by_label["2027-02"]["downtime_seconds"] == 7200
    assert by_label["2026-04"]["availability"] is None  # no data: null, never 100 %
    assert row["downtime_seconds"] == 1800 + 7200
    # Over the year: the observed time of both months together, not a mean of two ratios.
    # Each month's last result (23:59) holds for stale_after (3 min): 2 min into the next.
    observed = (31 + 28) * 86400 + 2 * 120
    assert row["scheduled_seconds"] - row["unknown_seconds"] == observed
    assert row["availability"] == float(Fraction(observed - 1800 - 7200, observed))
    mean_of_months = (by_label["2026-10"]["availability"] + by_label["2027-02"]["availability"]) / 2
    assert row["availability"] != mean_of_months
    assert row["insufficient_data"] is True  # ten months without data
    assert by_label["2026-10"]["insufficient_data"] is False
    assert by_label["2026-04"]["insufficient_data"] is True
    assert by_label["2026-10"]["coverage"] == 1.0 and by_label["2026-04"]["coverage"] == 0.0
    # Every format flags it, and none calls the year met (達成).
    csv_rows = render_fiscal_year(sheet, "csv", "ja").decode("utf-8-sig").splitlines()
    header, jpki_main = csv_rows[0].split(","), next(r for r in csv_rows if ",jpki,main," in r)
    # Missed (two hours down in February) and thin: both are said.
    assert dict(zip(header, jpki_main.split(","), strict=True))["判定"] == "未達（データ不足）"
    html = render_fiscal_year(sheet, "html", "ja").decode()
    start = html.index('data-scope="jpki/main"')
    assert "データ不足" in html[start : html.index("</tr>", start)]
    assert "達成" not in html[start : html.index("</tr>", start)]
    system_row = next(r for r in sheet["rows"] if r["system"] == "jpki" and r["service"] is None)
    assert system_row["availability_display"] == row["availability_display"]


def test_each_month_of_the_sheet_equals_the_monthly_report(migrated_url: str) -> None:
    from app.evaluation import evaluate_period, report_document
    from app.sla import periods

    sessions = session_factory(make_engine(migrated_url))
    probe_month(sessions, 2026, 10, down_minutes=30)
    now = datetime(2026, 10, 20, 12, tzinfo=JST)  # October is still running
    catalog = load_catalog()
    with sessions() as session:
        sheet = fiscal_year_document(session, catalog, 2026, "Asia/Tokyo", now=now)
        for label in ("2026-09", "2026-10"):
            month = report_document(
                catalog,
                evaluate_period(
                    session, catalog, periods.parse_month(label, "Asia/Tokyo"), now=now
                ),
            )
            expected = {(s["system"], s["service"]): s for s in month["services"]}
            expected |= {(s["system"], None): s for s in month["systems"]}
            for row in sheet["rows"]:
                entry = next(m for m in row["months"] if m["label"] == label)
                report = expected[(row["system"], row["service"])]
                assert entry["availability"] == report["availability"]
                assert entry["availability_display"] == report["availability_display"]
                assert entry["downtime_seconds"] == report["downtime_seconds"]
                assert entry["met"] == report["met"]
