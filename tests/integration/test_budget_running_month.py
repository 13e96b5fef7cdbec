"""The error budget of a month still running, from the store (SLA-SEMANTICS §5, S_P)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.catalog import load_catalog
from app.evaluation import evaluate_period, report_document
from app.sla import periods
from app.store.db import make_engine, session_factory, transaction
from app.store.exclusions import ExclusionRequest, add_exclusion
from app.store.ingest import ObservationIn, TimelineParams, store_observations
from app.store.tokens import Actor, Role

JST = ZoneInfo("Asia/Tokyo")
CHECK = "jpki/main/http"


def test_budget_on_the_first_counts_the_whole_month_and_the_windows_planned_in_it(
    migrated_url: str,
) -> None:
    sessions = session_factory(make_engine(migrated_url))
    start = datetime(2026, 10, 1, tzinfo=JST)
    now = start + timedelta(hours=6)
    batch = [
        ObservationIn(CHECK, "tokyo", start + timedelta(minutes=minute), True)
        for minute in range(6 * 60)
    ]
    catalog = load_catalog()
    with transaction(sessions) as session:
        store_observations(session, batch, {CHECK: TimelineParams(2, 180_000)})
        # Registered on the 1st for the 20th: known now, so it shapes the month's budget.
        request = ExclusionRequest(
            "jpki/main",
            "planned",
            datetime(2026, 10, 20, 1, tzinfo=JST),
            datetime(2026, 10, 20, 3, tzinfo=JST),
            "monthly maintenance",
        )
        add_exclusion(session, catalog, request, Actor("ops", Role.OPERATOR), now=now)
    october = periods.month(2026, 10, "Asia/Tokyo")
    with sessions() as session:
        document = report_document(catalog, evaluate_period(session, catalog, october, now=now))
    main = next(s for s in document["services"] if (s["system"], s["service"]) == ("jpki", "main"))
    # Month to date: six hours scheduled and up, nothing excluded yet.
    assert main["scheduled_seconds"] == 6 * 3600
    assert main["excluded_seconds"] == {"planned": 0, "disaster": 0}
    assert main["availability"] == 1
    # The budget: 0.1 % of October's 31 days less the planned two hours, from the start.
    assert main["error_budget_seconds"] == 2671.2
    assert main["error_budget_remaining_seconds"] == 2671.2
    # The report lists the windows that have begun by its cut-off, as before.
    assert document["exclusions"] == []
