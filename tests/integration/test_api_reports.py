"""GET /api/v1/reports/monthly and /fiscal-year: files with the right type, name and numbers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests.support.api import Api, open_api, post_all, series

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 20, 12, tzinfo=JST)
JPKI = "jpki/main/http"


OUTAGE = (datetime(2026, 10, 10, 3, tzinfo=JST), datetime(2026, 10, 10, 3, 30, tzinfo=JST))


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    for api in open_api(sqlite_url, NOW):
        start = datetime(2026, 10, 10, 0, tzinfo=JST)
        items = series(
            JPKI, start, start + timedelta(hours=6), timedelta(minutes=1),
            down=lambda at: OUTAGE[0] <= at < OUTAGE[1],
        )  # fmt: skip
        post_all(api, items)
        yield api


def test_monthly_report_files(api: Api) -> None:
    document = api.get("/api/v1/availability?month=2026-10").json()
    jpki = next(s for s in document["services"] if s["system"] == "jpki")
    assert jpki["downtime_seconds"] == 1800

    answer = api.get("/api/v1/reports/monthly?month=2026-10&format=json&lang=en")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert 'filename="kadou-2026-10-en.json"' in answer.headers["content-disposition"]
    exported = json.loads(answer.content)
    assert (
        next(s for s in exported["services"] if s["system"] == "jpki")["downtime_seconds"] == 1800
    )

    answer = api.get("/api/v1/reports/monthly?month=2026-10&format=csv&lang=ja")
    assert answer.headers["content-type"].startswith("text/csv")
    text = answer.content.decode("utf-8-sig")
    assert "稼働率" in text and jpki["availability_display"] in text
    assert any("jpki" in cell for row in csv.reader(io.StringIO(text)) for cell in row)

    answer = api.get("/api/v1/reports/monthly?month=2026-10&format=xlsx&lang=ja")
    workbook = load_workbook(io.BytesIO(answer.content))
    assert len(workbook.sheetnames) >= 3

    answer = api.get("/api/v1/reports/monthly?month=2026-10&format=pdf&lang=ja")
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")


def test_fiscal_year_sheet(api: Api) -> None:
    answer = api.get("/api/v1/reports/fiscal-year?year=2026&format=json&lang=ja")
    assert answer.status_code == 200
    sheet = json.loads(answer.content)
    assert sheet["period"]["label_ja"] == "令和8年度"
    row = next(r for r in sheet["rows"] if r["system"] == "jpki" and r["service"] == "main")
    assert {m["label"]: m["downtime_seconds"] for m in row["months"]}["2026-10"] == 1800
    answer = api.get("/api/v1/reports/fiscal-year?year=FY2026&format=html&lang=ja")
    assert "令和8年度" in answer.text
    assert "kadou-FY2026-ja.html" in answer.headers["content-disposition"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("month=2026-10&format=docx", "format"),
        ("month=2026-10&lang=fr", "lang"),
        ("month=October", "month"),
    ],
)
def test_bad_parameters_name_the_field(api: Api, query: str, field: str) -> None:
    answer = api.get(f"/api/v1/reports/monthly?{query}")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_reports_need_a_reader(api: Api) -> None:
    assert (
        api.get("/api/v1/reports/monthly?month=2026-10&format=json", role=None).status_code == 401
    )
    assert (
        api.get("/api/v1/reports/monthly?month=2026-10&format=json", role="prober").status_code
        == 403
    )
