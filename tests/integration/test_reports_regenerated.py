"""A closed period's report regenerated later from the store is the same file, in every
format: nothing in it comes from the wall clock (``render.py`` and ``export.py`` promise
this, and an auditor comparing two downloads relies on it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.reports.render import FORMATS
from app.reports.service import ReportKind, build_report
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import ObservationIn, TimelineParams, store_observations

JST = ZoneInfo("Asia/Tokyo")
CHECK = "jpki/main/http"


@pytest.fixture
def sessions(migrated_url: str) -> sessionmaker[Session]:
    sessions = session_factory(make_engine(migrated_url))
    start = datetime(2026, 10, 30, 12, tzinfo=JST)
    batch = [
        ObservationIn(CHECK, "tokyo", start + timedelta(minutes=m), m not in (30, 31, 32))
        for m in range(6 * 60)
    ]
    with transaction(sessions) as session:
        store_observations(session, batch, {CHECK: TimelineParams(2, 180_000)})
    return sessions


def _render(
    sessions: sessionmaker[Session],
    kind: ReportKind,
    label: str,
    fmt: str,
    lang: str,
    now: datetime,
) -> tuple[bytes, dict[str, object]]:
    with sessions() as session:
        report = build_report(
            session,
            load_catalog(),
            kind=kind,
            label=label,
            fmt=fmt,
            lang=lang,
            timezone="Asia/Tokyo",
            now=now,
        )
    return report.body, report.document


# When the export runs (just after the fiscal year closed) and a month later.
FIRST = datetime(2027, 4, 1, 0, 10, tzinfo=JST)
LATER = datetime(2027, 5, 3, 9, 41, 17, tzinfo=JST)


@pytest.mark.parametrize(("kind", "label"), [("monthly", "2026-10"), ("fiscal_year", "2026")])
def test_a_closed_period_regenerates_to_the_same_bytes(
    sessions: sessionmaker[Session], kind: ReportKind, label: str
) -> None:
    for fmt in FORMATS:
        for lang in ("ja",) if fmt == "pdf" else ("ja", "en"):
            first, document = _render(sessions, kind, label, fmt, lang, FIRST)
            again, _ = _render(sessions, kind, label, fmt, lang, LATER)
            assert first == again, (kind, fmt, lang)
    # Stamped with the period's end, the instant its figures describe, not the clock.
    end = "2026-11-01T00:00:00+09:00" if kind == "monthly" else "2027-04-01T00:00:00+09:00"
    assert document["generated_at"] == end
    assert document["data_cutoff"] == end


def test_a_running_period_is_stamped_with_its_evaluation_instant(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime(2026, 10, 30, 15, 0, 0, tzinfo=JST)
    _, document = _render(sessions, "monthly", "2026-10", "json", "ja", now)
    assert document["generated_at"] == "2026-10-30T15:00:00+09:00"
    _, document = _render(sessions, "fiscal_year", "2026", "json", "ja", now)
    assert document["generated_at"] == "2026-10-30T15:00:00+09:00"
