"""Exclusion windows over HTTP (SLA-SEMANTICS §4) and the audit log of every write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.api import Api, open_api

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=JST)
TOMORROW = NOW + timedelta(days=1)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    yield from open_api(database_url, NOW)


def window(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scope": "info-network",
        "kind": "planned",
        "start": TOMORROW.isoformat(),
        "end": (TOMORROW + timedelta(hours=2)).isoformat(),
        "reason": "OS patching",
    }
    return {**body, **changes}


def audit(api: Api) -> list[dict[str, Any]]:
    entries = api.get("/api/v1/audit?entity=exclusion").json()["entries"]
    return list(reversed(entries))


def test_an_operator_plans_a_window_and_reads_it_back(api: Api) -> None:
    response = api.post("/api/v1/exclusions", window(), role="operator")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["scope"] == "info-network" and created["kind"] == "planned"
    assert created["start"] == TOMORROW.isoformat()
    assert created["created_by"] == "operator-token"
    listed = api.get("/api/v1/exclusions").json()
    assert [item["id"] for item in listed] == [created["id"]]
    one = api.get(f"/api/v1/exclusions/{created['id']}").json()
    assert one["removed"] is False and one["reason"] == "OS patching"


def test_times_without_offset_are_in_the_reporting_zone(api: Api) -> None:
    body = window(start="2026-10-21T01:00", end="2026-10-21T03:00", scope="mynaportal/records")
    created = api.post("/api/v1/exclusions", body, role="operator").json()
    assert created["start"] == "2026-10-21T01:00:00+09:00"
    assert created["end"] == "2026-10-21T03:00:00+09:00"
    assert created["scope"] == "mynaportal/records"


def test_a_planned_window_in_the_past_is_refused_unless_an_admin_marks_it_retroactive(
    api: Api,
) -> None:
    past = window(start=(NOW - timedelta(hours=3)).isoformat(), end=NOW.isoformat())
    response = api.post("/api/v1/exclusions", past, role="operator")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "start"
    response = api.post("/api/v1/exclusions", {**past, "retroactive": True}, role="operator")
    assert response.status_code == 403
    response = api.post("/api/v1/exclusions", {**past, "retroactive": True}, role="admin")
    assert response.status_code == 201 and response.json()["retroactive"] is True


def test_disasters_are_declared_by_an_admin(api: Api) -> None:
    disaster = window(
        kind="disaster",
        start=(NOW - timedelta(days=2)).isoformat(),
        end=(NOW - timedelta(days=1)).isoformat(),
        reason="earthquake: data centre power loss",
    )
    response = api.post("/api/v1/exclusions", disaster, role="operator")
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert api.post("/api/v1/exclusions", disaster, role="admin").status_code == 201


@pytest.mark.parametrize("role", ["viewer", "prober"])
def test_readers_and_probers_cannot_register_windows(api: Api, role: str) -> None:
    response = api.post("/api/v1/exclusions", window(), role=role)
    assert response.status_code == 403
    assert "operator or admin role" in response.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scope": "nope"}, "scope"),
        ({"scope": "jpki/nope"}, "scope"),
        ({"kind": "maintenance"}, "kind"),
        ({"start": "tomorrow"}, "start"),
        ({"end": TOMORROW.isoformat()}, "end"),
        ({"reason": ""}, "reason"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_windows_are_422_naming_the_field(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/exclusions", window(**changes), role="operator")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert api.get("/api/v1/exclusions").json() == []


def test_a_change_needs_a_reason_and_is_audited_with_before_and_after(api: Api) -> None:
    created = api.post("/api/v1/exclusions", window(), role="operator").json()
    path = f"/api/v1/exclusions/{created['id']}"
    new_end = (TOMORROW + timedelta(hours=3)).isoformat()
    response = api.patch(path, {"end": new_end}, role="operator")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "change_reason"
    response = api.patch(
        path, {"end": new_end, "change_reason": "vendor needs an hour more"}, role="operator"
    )
    assert response.status_code == 200, response.text
    assert response.json()["end"] == new_end
    entries = audit(api)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("create", "operator-token"),
        ("update", "operator-token"),
    ]
    assert entries[1]["reason"] == "vendor needs an hour more"
    assert entries[1]["before"]["end"] != entries[1]["after"]["end"]


def test_changing_a_window_that_already_started_is_for_an_admin(api: Api) -> None:
    created = api.post("/api/v1/exclusions", window(), role="operator").json()
    api.clock.now = TOMORROW + timedelta(minutes=30)
    path = f"/api/v1/exclusions/{created['id']}"
    body = {"end": (TOMORROW + timedelta(hours=4)).isoformat(), "change_reason": "overrun"}
    assert api.patch(path, body, role="operator").status_code == 403
    assert api.patch(path, body, role="admin").status_code == 200


def test_removal_needs_an_admin_and_a_reason_in_the_query_or_the_body(api: Api) -> None:
    first = api.post("/api/v1/exclusions", window(), role="operator").json()
    second = api.post("/api/v1/exclusions", window(scope="jpki"), role="operator").json()
    assert (
        api.delete(f"/api/v1/exclusions/{first['id']}?reason=x", role="operator").status_code == 403
    )
    response = api.delete(f"/api/v1/exclusions/{first['id']}", role="admin")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"
    by_query = api.delete(f"/api/v1/exclusions/{first['id']}?reason=cancelled", role="admin")
    assert by_query.status_code == 200 and by_query.json()["removed"] is True
    by_body = api.delete(
        f"/api/v1/exclusions/{second['id']}", role="admin", json={"reason": "merged into #1"}
    )
    assert by_body.status_code == 200
    assert api.get("/api/v1/exclusions").json() == []
    removals = [e for e in audit(api) if e["action"] == "delete"]
    assert [(e["actor"], e["reason"]) for e in removals] == [
        ("admin-token", "cancelled"),
        ("admin-token", "merged into #1"),
    ]


def test_a_removed_window_is_409_and_an_unknown_one_404(api: Api) -> None:
    created = api.post("/api/v1/exclusions", window(), role="operator").json()
    path = f"/api/v1/exclusions/{created['id']}"
    assert api.delete(path + "?reason=cancelled").status_code == 200
    response = api.patch(path, {"change_reason": "typo", "reason": "new"})
    assert response.status_code == 409
    assert "removed" in response.json()["detail"]
    assert api.delete(path + "?reason=again").status_code == 409
    assert api.get(path).json()["removed"] is True
    for response in (
        api.get("/api/v1/exclusions/9999"),
        api.patch("/api/v1/exclusions/9999", {"change_reason": "x"}),
        api.delete("/api/v1/exclusions/9999?reason=x"),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_every_write_is_in_the_audit_log_with_the_acting_token(api: Api) -> None:
    created = api.post("/api/v1/exclusions", window(), role="operator").json()
    path = f"/api/v1/exclusions/{created['id']}"
    api.patch(path, {"reason": "kernel update", "change_reason": "clearer"}, role="admin")
    api.delete(path + "?reason=postponed", role="admin")
    entries = audit(api)
    assert [(e["action"], e["actor"], e["entity_id"]) for e in entries] == [
        ("create", "operator-token", str(created["id"])),
        ("update", "admin-token", str(created["id"])),
        ("delete", "admin-token", str(created["id"])),
    ]
    assert entries[0]["before"] is None and entries[0]["after"]["reason"] == "OS patching"
    assert entries[1]["after"]["reason"] == "kernel update"
    assert entries[2]["after"] is None
    assert all(e["at"].endswith("+09:00") for e in entries)


def test_a_window_changes_the_figures_at_once(api: Api) -> None:
    # A retroactive system-wide window over the whole month so far: nothing is scheduled.
    body = window(
        start="2026-10-01T00:00", end="2026-10-21T00:00", retroactive=True, reason="migration"
    )
    before = api.get("/api/v1/systems/info-network").json()["month_to_date"]
    assert before["scheduled_seconds"] > 0
    assert api.post("/api/v1/exclusions", body, role="admin").status_code == 201
    after = api.get("/api/v1/systems/info-network").json()["month_to_date"]
    assert after["scheduled_seconds"] == 0
    assert after["excluded_seconds"]["planned"] == before["scheduled_seconds"]


def test_listing_filters_by_system_and_time(api: Api) -> None:
    api.post("/api/v1/exclusions", window(), role="operator")
    later = TOMORROW + timedelta(days=5)
    api.post(
        "/api/v1/exclusions",
        window(scope="jpki", start=later.isoformat(), end=(later + timedelta(hours=1)).isoformat()),
        role="operator",
    )
    assert [w["scope"] for w in api.get("/api/v1/exclusions?system=jpki").json()] == ["jpki"]
    ranged = api.get(
        "/api/v1/exclusions", params={"start": "2026-10-24T00:00", "end": "2026-10-31T00:00"}
    ).json()
    assert [w["scope"] for w in ranged] == ["jpki"]
    response = api.get("/api/v1/exclusions?system=nope")
    assert response.status_code == 404 and "info-network" in response.json()["detail"]
