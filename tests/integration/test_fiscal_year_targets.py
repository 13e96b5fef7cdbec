"""A fiscal year shows each month with its own month's targets and the year with the
year-end targets (SLA-SEMANTICS §8); closed months name their version and removed
services are listed, in every format. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session, sessionmaker

from app.months import close_month
from app.reports.service import build_report
from app.sla import periods
from tests.integration.test_catalog_pieces import JST, _catalog, _probe, _service, _sessions
from tests.integration.test_reports_pdf import _squeeze, _tool

# Version A (99 %) from March; version B (99.9 %, "old" removed) from 1 August.
VERSION_A = _catalog(_service("main", target="0.99"), _service("old", target="0.99"), target="0.99")
VERSION_B = _catalog(_service("main", target="0.999"), target="0.999")
CHANGED = datetime(2026, 8, 1, tzinfo=JST)
NOW = datetime(2026, 10, 5, 12, tzinfo=JST)
JUNE = periods.month(2026, 6, "Asia/Tokyo")


@pytest.fixture
def sessions(migrated_url: str) -> sessionmaker[Session]:
    sessions = _sessions(
        migrated_url, (datetime(2026, 3, 1, tzinfo=JST), VERSION_A), (CHANGED, VERSION_B)
    )
    start = datetime(2026, 4, 30, tzinfo=JST)
    # Five hours down in May and in September: 99.33 % and 99.31 %, met against 99 %
    # (A, May's) and missed against 99.9 % (B, September's and the year's).
    may, september = datetime(2026, 5, 10, tzinfo=JST), datetime(2026, 9, 10, tzinfo=JST)
    _probe(
        sessions,
        "jpki/main/http",
        start,
        NOW,
        failing=[(may, may + timedelta(hours=5)), (september, september + timedelta(hours=5))],
    )
    _probe(sessions, "jpki/old/http", start, CHANGED)
    return sessions


def _report(sessions: sessionmaker[Session], fmt: str, lang: str) -> Any:
    with sessions() as session:
        return build_report(
            session,
            VERSION_B,
            kind="fiscal_year",
            label="2026",
            fmt=fmt,
            lang=lang,
            timezone="Asia/Tokyo",
            now=NOW,
        )


def _row(document: dict[str, Any], service: str | None) -> dict[str, Any]:
    return next(row for row in document["rows"] if row["service"] == service)


def test_each_month_has_its_own_months_targets(sessions: sessionmaker[Session]) -> None:
    document = _report(sessions, "json", "en").document
    main = _row(document, "main")
    months = {month["label"]: month for month in main["months"]}
    assert main["target_display"] == "99.9%" and main["met"] is False
    assert [months[m]["target_display"] for m in ("2026-05", "2026-07", "2026-08", "2026-10")] == [
        "99%",
        "99%",
        "99.9%",
        "99.9%",
    ]
    assert months["2026-05"]["met"] is True and months["2026-09"]["met"] is False
    # Shown to the decimals of its own target (99 %: one more than the target has).
    assert months["2026-05"]["availability_display"] == "99.3%"
    # The system's months too.
    system = {m["label"]: m for m in _row(document, None)["months"]}
    assert system["2026-05"]["target_display"] == "99%" and system["2026-05"]["met"] is True
    # The removed service is listed after the others, marked, with its time until then.
    assert [row["service"] for row in document["rows"]] == [None, "main", "old"]
    old = _row(document, "old")
    assert old["removed_at"] == "2026-08-01T00:00:00+09:00"
    old_months = {m["label"]: m for m in old["months"]}
    assert old_months["2026-07"]["scheduled_seconds"] == 31 * 86400
    assert old_months["2026-08"]["scheduled_seconds"] == 0
    assert old_months["2026-07"]["target_display"] == "99%"


def test_closed_months_name_their_version_in_every_format(
    sessions: sessionmaker[Session],
) -> None:
    assert close_month(sessions, VERSION_B, JUNE, actor="export", now=NOW) is not None
    document = _report(sessions, "json", "ja").document
    june = next(m for m in _row(document, "main")["months"] if m["label"] == "2026-06")
    assert june["version"] == 1 and june["target_display"] == "99%"

    html = _report(sessions, "html", "ja").body.decode("utf-8")
    assert html.count("第1版") == 1  # once, in June's heading
    assert "old (2026-08-01 に削除)" in html
    assert "目標 99%" in html  # a month whose target is not the year's says its own

    rows = list(csv.reader(io.StringIO(_report(sessions, "csv", "en").body.decode("utf-8-sig"))))
    assert "Jun 2026 (2026-06) v1" in rows[0]
    assert not any(" v1" in heading for heading in rows[0] if "(2026-06)" not in heading)
    assert any("old (removed 2026-08-01)" in row for row in rows)

    workbook = load_workbook(io.BytesIO(_report(sessions, "xlsx", "en").body))
    values = {str(cell.value) for row in workbook.worksheets[0].iter_rows() for cell in row}
    assert "Jun 2026 (2026-06) v1" in values
    assert "old (removed 2026-08-01)" in values

    pdf = _report(sessions, "pdf", "ja").body
    text = subprocess.run(
        [_tool("pdftotext"), "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    ).stdout.decode("utf-8")
    assert "第1版" in _squeeze(text)
    assert _squeeze("old (2026-08-01 に削除)") in _squeeze(text)
