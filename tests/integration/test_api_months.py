"""GET /api/v1/months, /months/{month}/versions/{n} and /months/{month}/evidence."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.months import close_month
from app.sla import periods
from app.store.db import transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.tokens import Actor, Role
from tests.support.api import Api, open_api

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 2, 9, tzinfo=JST)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW)


def _close_october(api: Api) -> None:
    start = datetime(2026, 10, 20, 9, tzinfo=JST)
    batch = [
        ObservationIn("jpki/main/http", "tokyo", start + timedelta(minutes=m), m not in (5, 6))
        for m in range(60)
    ]
    with transaction(api.runtime.sessions) as session:
        store_observations(session, batch, {"jpki/main/http": TimelineParams(2, 90_000)})
    october = periods.month(2026, 10, "Asia/Tokyo")
    assert close_month(api.runtime.sessions, api.runtime.catalog, october, actor="t", now=NOW)


def test_closed_months_and_their_versions(api: Api) -> None:
    assert api.get("/api/v1/months").json() == {"months": []}
    _close_october(api)
    listed = api.get("/api/v1/months").json()["months"]
    assert [(m["month"], m["version"], m["amended"]) for m in listed] == [("2026-10", 1, False)]
    version = api.get("/api/v1/months/2026-10/versions/1").json()
    assert version["report"]["version"] == 1
    assert version["report"]["period"]["label"] == "2026-10"
    # The monthly report of a closed month is its latest version.
    report = api.get("/api/v1/reports/monthly", params={"month": "2026-10", "format": "json"})
    assert report.status_code == 200 and b'"version": 1' in report.content
    figures = api.get("/api/v1/availability", params={"month": "2026-10"}).json()
    assert figures["version"] == 1 and figures["closed_at"] == version["closed_at"]
    running = api.get("/api/v1/availability", params={"month": "2026-11"}).json()
    assert running["version"] is None and running["closed_at"] is None


def test_missing_versions_and_bad_months_are_problems(api: Api) -> None:
    _close_october(api)
    missing = api.get("/api/v1/months/2026-10/versions/2")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = api.get("/api/v1/months/2026-13/versions/1")
    assert bad.status_code == 422 and "YYYY-MM" in bad.json()["detail"]
    assert api.get("/api/v1/months/2026-10/versions/0").status_code == 422


def test_the_evidence_bundle_is_offered_to_readers_only(api: Api) -> None:
    _close_october(api)
    answer = api.get("/api/v1/months/2026-10/evidence")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as bundle:
        assert "manifest.json" in bundle.namelist()
        assert "reports/v1.json" in bundle.namelist()
    assert api.get("/api/v1/months/2026-10/evidence", role=None).status_code == 401
    assert api.get("/api/v1/months/2026-10/evidence", role="prober").status_code == 403


def test_closings_are_in_the_audit_log(api: Api) -> None:
    _close_october(api)
    entries = api.get("/api/v1/audit", params={"entity": "month"}).json()["entries"]
    assert [(e["action"], e["entity_id"], e["after"]["version"]) for e in entries] == [
        ("close", "2026-10", 1)
    ]


def _amend_october(api: Api) -> None:
    with transaction(api.runtime.sessions) as session:
        add_exclusion(
            session,
            api.runtime.catalog,
            ExclusionRequest(
                "jpki",
                "disaster",
                datetime(2026, 10, 20, 9, tzinfo=JST),
                datetime(2026, 10, 20, 10, tzinfo=JST),
                "earthquake",
                retroactive=True,
            ),
            Actor("admin", Role.ADMIN),
            now=NOW,
        )
    october = periods.month(2026, 10, "Asia/Tokyo")
    later = NOW + timedelta(days=1)
    assert close_month(api.runtime.sessions, api.runtime.catalog, october, actor="t", now=later)


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("pdf", "application/pdf"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("csv", "text/csv"),
        ("html", "text/html"),
        ("json", "application/json"),
    ],
)
def test_each_version_downloads_in_every_format(api: Api, fmt: str, media_type: str) -> None:
    _close_october(api)
    _amend_october(api)
    for version, suffix in ((1, ""), (2, "-v2")):
        answer = api.get(
            "/api/v1/months/2026-10/versions/" + str(version), params={"format": fmt, "lang": "en"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(media_type)
        name = f"kadou-2026-10-en{suffix}.{fmt}"
        assert f'filename="{name}"' in answer.headers["content-disposition"]
        if fmt == "json":
            assert answer.json()["version"] == version
    # Without a format the version is described as JSON, as before.
    assert "diff" in api.get("/api/v1/months/2026-10/versions/2").json()


def test_version_downloads_refuse_bad_formats_and_unknown_versions(api: Api) -> None:
    _close_october(api)
    bad = api.get("/api/v1/months/2026-10/versions/1", params={"format": "docx"})
    assert bad.status_code == 422 and "format" in bad.text
    bad_lang = api.get("/api/v1/months/2026-10/versions/1", params={"format": "csv", "lang": "fr"})
    assert bad_lang.status_code == 422 and "lang" in bad_lang.text
    missing = api.get("/api/v1/months/2026-10/versions/2", params={"format": "pdf"})
    assert missing.status_code == 404
    operation = api.get("/openapi.json").json()["paths"][
        "/api/v1/months/{month}/versions/{version}"
    ]
    answers = operation["get"]["responses"]
    assert {"200", "404", "422"} <= set(answers)
    assert "application/pdf" in answers["200"]["content"]
    assert any(p["name"] == "format" for p in operation["get"]["parameters"])
