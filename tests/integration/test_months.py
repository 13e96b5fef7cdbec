"""Closed months and amendments (SLA-SEMANTICS §9), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from app.catalog import load_catalog
from app.catalog.loader import default_catalog_text, parse_catalog
from app.catalog.model import Catalog
from app.history import record_catalog
from app.months import close_month, closed_document, month_list, month_version_detail
from app.reports.export import ExportPlan, export_due_reports
from app.reports.service import monthly_document
from app.sla import periods
from app.store import history
from app.store.db import make_engine, session_factory, transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.tokens import Actor, Role

JST = ZoneInfo("Asia/Tokyo")
OCTOBER = periods.month(2026, 10, "Asia/Tokyo")
CLOSING = datetime(2026, 11, 1, 0, 10, tzinfo=JST)
ADMIN = Actor(name="admin", role=Role.ADMIN)
PARAMS = {"jpki/main/http": TimelineParams(2, 180_000)}
# Down from 10:00 to 10:05 on 20 October (five failures a minute apart, then success).
OUTAGE = datetime(2026, 10, 20, 10, tzinfo=JST)


def _sessions(url: str) -> sessionmaker[Session]:
    return session_factory(make_engine(url))


def _observations(start: datetime, minutes: int, failing: range) -> list[ObservationIn]:
    return [
        ObservationIn("jpki/main/http", "tokyo", start + timedelta(minutes=m), m not in failing)
        for m in range(minutes)
    ]


def _month_with_an_outage(url: str) -> tuple[sessionmaker[Session], Catalog]:
    sessions = _sessions(url)
    catalog = load_catalog()
    record_catalog(sessions, catalog, "test", at=datetime(2026, 9, 1, tzinfo=JST))
    start = OUTAGE - timedelta(hours=2)
    with transaction(sessions) as session:
        store_observations(session, _observations(start, 4 * 60, range(120, 125)), PARAMS)
    return sessions, catalog


def _jpki(document: dict[str, object]) -> dict[str, object]:
    services = document["services"]
    assert isinstance(services, list)
    return next(s for s in services if s["system"] == "jpki")


def test_a_retroactive_disaster_window_makes_version_2_with_its_diff_and_reason(
    migrated_url: str,
) -> None:
    sessions, catalog = _month_with_an_outage(migrated_url)
    first = close_month(sessions, catalog, OCTOBER, actor="scheduled-export", now=CLOSING)
    assert first is not None and first.version == 1 and first.diff == []
    assert first.document["version"] == 1 and first.document["closed_at"] is not None
    assert _jpki(first.document)["downtime_seconds"] == 300
    # Closing again with nothing changed writes nothing.
    assert close_month(sessions, catalog, OCTOBER, actor="admin", now=CLOSING) is None

    later = datetime(2026, 11, 15, 9, tzinfo=JST)
    with transaction(sessions) as session:
        window = add_exclusion(
            session,
            catalog,
            ExclusionRequest(
                scope="jpki",
                kind="disaster",
                starts_at=OUTAGE - timedelta(hours=1),
                ends_at=OUTAGE + timedelta(hours=1),
                reason="地震による停電",
            ),
            ADMIN,
            now=later,
        )
        cause = history.audit_entries_after(session, 0)[-1]
    assert cause.entity == "exclusion" and cause.entity_id == str(window.id)

    second = close_month(sessions, catalog, OCTOBER, actor="admin", now=later)
    assert second is not None and second.version == 2
    assert second.changed_inputs == ["exclusions"]
    assert second.audit_entry_ids == [cause.id]
    moved = {(d["indicator"], d["figure"]): (d["before"], d["after"]) for d in second.diff}
    assert moved[("jpki/main", "downtime_seconds")] == (300, 0)
    assert moved[("jpki", "downtime_seconds")] == (300, 0)
    assert moved[("jpki/main", "excluded_seconds.disaster")] == (0, 7200)
    assert moved[("jpki/main", "scheduled_seconds")] == (31 * 86400, 31 * 86400 - 7200)
    # Only jpki's figures moved.
    assert {d["indicator"] for d in second.diff} == {"jpki", "jpki/main"}
    assert close_month(sessions, catalog, OCTOBER, actor="admin", now=later) is None

    with sessions() as session:
        # Every version stays retrievable; reports show the latest.
        assert month_version_detail(session, "2026-10", 1, "Asia/Tokyo")["report"] == (
            first.document
        )
        detail = month_version_detail(session, "2026-10", 2, "Asia/Tokyo")
        assert detail["reasons"][0]["audit_entry_id"] == cause.id
        assert detail["amended"] is True
        assert _jpki(monthly_document(session, catalog, OCTOBER))["downtime_seconds"] == 0
        listed = month_list(session, "Asia/Tokyo")
        assert [(m["month"], m["version"]) for m in listed] == [("2026-10", 2)]


def test_late_observations_amend_the_month_and_a_resend_does_not(migrated_url: str) -> None:
    sessions, catalog = _month_with_an_outage(migrated_url)
    assert close_month(sessions, catalog, OCTOBER, actor="export", now=CLOSING) is not None
    # The same observations sent again (a retrying agent) change nothing.
    with transaction(sessions) as session:
        store_observations(
            session, _observations(OUTAGE - timedelta(hours=2), 60, range(0)), PARAMS
        )
    assert close_month(sessions, catalog, OCTOBER, actor="export", now=CLOSING) is None
    # A remote agent's backlog arrives: an outage on the 25th.
    late = datetime(2026, 10, 25, 3, tzinfo=JST)
    with transaction(sessions) as session:
        store_observations(session, _observations(late, 30, range(10, 13)), PARAMS)
    amended = close_month(sessions, catalog, OCTOBER, actor="export", now=CLOSING)
    assert amended is not None and amended.version == 2
    assert amended.changed_inputs == ["segments"]
    moved = {(d["indicator"], d["figure"]): (d["before"], d["after"]) for d in amended.diff}
    assert moved[("jpki/main", "downtime_seconds")] == (300, 480)
    assert moved[("jpki/main", "incidents")] == (1, 2)


def _changed_catalog() -> Catalog:
    text = default_catalog_text()
    # A higher target for JPKI, its service renamed, and mynaportal's notices check gone.
    text = text.replace("    target: 0.999\n    services:\n      - id: main\n        name:\n"
                        "          ja: 電子証明書の有効性確認\n          en: Certificate validation\n"
                        "        target: 0.999\n",
                        "    target: 0.9999\n    services:\n      - id: main\n        name:\n"
                        "          ja: 電子証明書の失効確認\n          en: Certificate revocation\n"
                        "        target: 0.9999\n")  # fmt: skip
    changed = parse_catalog(text, "changed")
    assert changed.service("jpki", "main").target != load_catalog().service("jpki", "main").target
    systems = [
        system.model_copy(
            update={"services": tuple(s for s in system.services if s.id != "notices")}
        )
        for system in changed.systems
    ]
    return changed.model_copy(update={"systems": tuple(systems)})


def test_catalog_changes_after_the_close_leave_the_closed_month_as_it_was(
    migrated_url: str,
) -> None:
    sessions, catalog = _month_with_an_outage(migrated_url)
    first = close_month(sessions, catalog, OCTOBER, actor="export", now=CLOSING)
    assert first is not None
    changed = _changed_catalog()
    assert record_catalog(sessions, changed, "test", at=datetime(2026, 11, 10, tzinfo=JST))
    # The server now runs with the changed catalog: closing again finds nothing to do ...
    assert close_month(sessions, changed, OCTOBER, actor="export", now=CLOSING) is None
    with sessions() as session:
        frozen = monthly_document(session, changed, OCTOBER)
    assert frozen == first.document
    jpki = _jpki(frozen)
    assert jpki["target"] == 0.999 and jpki["name"]["en"] == "Certificate validation"
    assert any(s["service"] == "notices" for s in frozen["services"])

    # ... and an amendment for another reason is still judged by October's catalog.
    with transaction(sessions) as session:
        store_observations(
            session, _observations(datetime(2026, 10, 25, 3, tzinfo=JST), 30, range(10, 13)), PARAMS
        )
    amended = close_month(sessions, changed, OCTOBER, actor="export", now=CLOSING)
    assert amended is not None
    jpki = _jpki(amended.document)
    assert jpki["target"] == 0.999 and jpki["name"]["en"] == "Certificate validation"
    assert any(s["service"] == "notices" for s in amended.document["services"])
    assert {d["figure"] for d in amended.diff if d["indicator"] == "jpki/main"} >= {
        "downtime_seconds"
    }
    assert not [d for d in amended.diff if d["figure"] == "target"]
    # The running month is judged by the catalog now in force.
    with sessions() as session:
        assert closed_document(session, "2026-11") is None


def test_the_scheduled_export_closes_and_writes_amendments_beside_the_first(
    migrated_url: str, tmp_path: Path
) -> None:
    sessions, catalog = _month_with_an_outage(migrated_url)
    plan = ExportPlan(tmp_path, ("json", "csv"), ("ja",), 1, time(0, 10))

    def run(local: datetime) -> list[str]:
        written = export_due_reports(sessions, catalog, "Asia/Tokyo", plan, now=local)
        return sorted(path.name for path in written)

    assert run(CLOSING) == ["kadou-2026-10-ja.csv", "kadou-2026-10-ja.json"]
    first = (tmp_path / "kadou-2026-10-ja.json").read_bytes()
    assert json.loads(first)["version"] == 1
    assert run(CLOSING + timedelta(minutes=1)) == []
    with transaction(sessions) as session:
        store_observations(
            session, _observations(datetime(2026, 10, 25, 3, tzinfo=JST), 30, range(10, 13)), PARAMS
        )
    assert run(CLOSING + timedelta(days=1)) == [
        "kadou-2026-10-ja-v2.csv",
        "kadou-2026-10-ja-v2.json",
    ]
    assert (tmp_path / "kadou-2026-10-ja.json").read_bytes() == first
    second = json.loads((tmp_path / "kadou-2026-10-ja-v2.json").read_text())
    assert second["version"] == 2 and _jpki(second)["downtime_seconds"] == 480
    assert run(CLOSING + timedelta(days=1, minutes=1)) == []
