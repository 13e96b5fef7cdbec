"""The command line's table truncates like every other surface (SLA-SEMANTICS §5)."""

from __future__ import annotations

from typing import Any

from app.cli.report import render_table


def figures(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "system": "jpki",
        "service": "main",
        "target_display": "99.9%",
        "availability_display": "99.95%",
        "met": True,
        "scheduled_seconds": 2_678_400,
        "downtime_seconds": 0,
        "unknown_seconds": 0,
        "coverage": 1.0,
        "error_budget_remaining_seconds": 2678.4,
        "insufficient_data": False,
        "incidents": [],
    }
    item.update(overrides)
    return item


def document(*services: dict[str, Any]) -> dict[str, Any]:
    return {
        "period": {
            "label": "2026-10",
            "start": "2026-10-01T00:00:00+09:00",
            "end": "2026-11-01T00:00:00+09:00",
            "timezone": "Asia/Tokyo",
        },
        "unknown_policy": "exclude",
        "data_cutoff": "2026-11-01T00:00:00+09:00",
        "services": list(services),
        "systems": [],
        "exclusions": [],
    }


def row_of(table: str, name: str) -> list[str]:
    return next(line for line in table.splitlines() if line.startswith(name)).split()


def test_coverage_is_cut_not_rounded() -> None:
    table = render_table(document(figures(coverage=0.989957, insufficient_data=True)))
    row = row_of(table, "jpki/main")
    assert "98.99%" in row and "99.00%" not in row
    assert table.rstrip().endswith("insufficient data")
    high = render_table(document(figures(availability_display="99.995%", coverage=0.99999)))
    assert "99.999%" in row_of(high, "jpki/main")  # a 99.99 % target's precision


def test_durations_are_cut_to_a_tenth_of_a_second() -> None:
    table = render_table(
        document(figures(downtime_seconds=3599.96, error_budget_remaining_seconds=869.46))
    )
    row = row_of(table, "jpki/main")
    assert "59m59.9s" in row and "59m60.0s" not in row
    assert "14m29.4s" in row and "14m29.5s" not in row


def test_an_overspent_budget_is_never_minus_zero() -> None:
    row = row_of(
        render_table(document(figures(error_budget_remaining_seconds=-0.04, met=False))),
        "jpki/main",
    )
    assert "-0.1s" in row and "-0.0s" not in row


def test_incident_durations_use_the_same_formatter() -> None:
    incident = {
        "start": "2026-10-04T02:30:00+09:00",
        "end": "2026-10-04T03:29:59.960+09:00",
        "duration_seconds": 3599.96,
        "downtime_seconds": 1799.99,
        "recovery_met": None,
    }
    table = render_table(document(figures(incidents=[incident])))
    assert "lasted 59m59.9s, counted 29m59.9s" in table


def test_coverage_without_data_keeps_the_precision() -> None:
    no_data = figures(availability_display="—", coverage=0.0, met=None, insufficient_data=True)
    assert "0.00%" in row_of(render_table(document(no_data)), "jpki/main")
    no_data_high = {**no_data, "target_display": "99.99%"}
    assert "0.000%" in row_of(render_table(document(no_data_high)), "jpki/main")
