"""The scheduled export fires once after a month closes (the clock is injected)."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.catalog import load_catalog
from app.reports.export import ExportPlan, export_due_reports
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.models import ReportExport

JST = ZoneInfo("Asia/Tokyo")


def test_last_month_is_exported_once_at_the_configured_moment(
    migrated_url: str, tmp_path: Path
) -> None:
    sessions = session_factory(make_engine(migrated_url))
    catalog = load_catalog()
    start = datetime(2026, 10, 31, 12, tzinfo=JST)
    batch = [
        ObservationIn(
            "jpki/main/http", "tokyo", start + timedelta(minutes=m), m not in (30, 31, 32)
        )
        for m in range(12 * 60)
    ]
    with transaction(sessions) as session:
        store_observations(session, batch, {"jpki/main/http": TimelineParams(2, 180_000)})
    plan = ExportPlan(
        tmp_path / "exports", ("json", "csv", "html", "pdf"), ("ja", "en"), 1, time(0, 10)
    )

    def run(local: datetime) -> list[Path]:
        return export_due_reports(sessions, catalog, "Asia/Tokyo", plan, now=local)

    # September's export, due on 1 October, was written before.
    with transaction(sessions) as session:
        session.add(ReportExport(period="2026-09", written_at=start, files=[]))
    assert run(datetime(2026, 10, 31, 23, 59, tzinfo=JST)) == []
    assert run(datetime(2026, 11, 1, 0, 9, 59, tzinfo=JST)) == []
    written = run(datetime(2026, 11, 1, 0, 10, tzinfo=JST))
    assert sorted(p.name for p in written) == [
        "kadou-2026-10-en.csv", "kadou-2026-10-en.html", "kadou-2026-10-en.pdf",
        "kadou-2026-10-ja.csv", "kadou-2026-10-ja.html", "kadou-2026-10-ja.json",
        "kadou-2026-10-ja.pdf",
    ]  # fmt: skip
    assert run(datetime(2026, 11, 1, 0, 11, tzinfo=JST)) == []  # once only
    document = json.loads((tmp_path / "exports" / "kadou-2026-10-ja.json").read_text())
    jpki = next(s for s in document["services"] if s["system"] == "jpki")
    assert jpki["downtime_seconds"] == 180 and document["period"]["label"] == "2026-10"
    assert (tmp_path / "exports" / "kadou-2026-10-ja.pdf").read_bytes().startswith(b"%PDF")
    assert "稼働率" in (tmp_path / "exports" / "kadou-2026-10-ja.html").read_text()
    assert not [p for p in (tmp_path / "exports").iterdir() if p.name.startswith(".")]
