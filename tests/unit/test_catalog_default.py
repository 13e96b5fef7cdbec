"""The built-in catalog: the five My Number systems of SLA-SEMANTICS §1."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from app.catalog import (
    BUILT_IN_SOURCE,
    HttpCheck,
    catalog_summary,
    default_catalog_text,
    load_catalog,
)

EXPECTED_TARGETS = {
    "card-management/main": Decimal("0.999"),
    "jpki/main": Decimal("0.999"),
    "info-network/main": Decimal("0.999"),
    "mynaportal/records": Decimal("0.9999"),
    "mynaportal/self-info": Decimal("0.9999"),
    "mynaportal/notices": Decimal("0.9999"),
    "account-registration/main": Decimal("0.999"),
}


def test_default_has_the_seven_services_with_their_targets() -> None:
    catalog = load_catalog()
    assert {service.key: service.target for service in catalog.services()} == EXPECTED_TARGETS
    assert [system.id for system in catalog.systems] == [
        "card-management", "jpki", "info-network", "mynaportal", "account-registration",
    ]  # fmt: skip
    assert catalog.system("mynaportal").target == Decimal("0.9999")
    for system_id in ("card-management", "jpki", "info-network", "account-registration"):
        assert catalog.system(system_id).target == Decimal("0.999")
    assert catalog.timezone == "Asia/Tokyo"
    assert catalog.unknown_policy == "exclude"


def test_only_the_information_network_has_a_recovery_target() -> None:
    catalog = load_catalog()
    eight_hours_ms = 8 * 60 * 60 * 1000
    assert catalog.system("info-network").recovery_target_ms == eight_hours_ms
    assert catalog.service("info-network", "main").recovery_target_ms == eight_hours_ms
    others = [s for s in catalog.services() if s.system_id != "info-network"]
    assert others and all(service.recovery_target_ms is None for service in others)


def test_every_service_has_one_http_check_on_the_simulator() -> None:
    catalog = load_catalog()
    for service in catalog.services():
        assert service.core and service.quorum == 1
        assert service.hours.always  # 24x7
        assert service.name.ja and service.name.en
        (check,) = service.checks
        assert isinstance(check, HttpCheck)
        assert check.key == f"{service.key}/http"
        assert check.url == f"http://127.0.0.1:8081/{service.system_id}/{service.id}/health"
        assert (check.interval_ms, check.timeout_ms, check.confirm) == (30_000, 10_000, 2)
        assert check.stale_after_ms == 90_000
    for system in catalog.systems:
        assert system.name.ja and system.name.en


def test_default_source_and_sha256() -> None:
    catalog = load_catalog()
    assert catalog.source == BUILT_IN_SOURCE
    assert catalog.sha256 == hashlib.sha256(default_catalog_text().encode()).hexdigest()
    assert load_catalog().sha256 == catalog.sha256


def test_summary_shows_what_was_understood() -> None:
    catalog = load_catalog()
    summary = catalog_summary(catalog)
    assert catalog.sha256 in summary
    assert "Asia/Tokyo" in summary and "exclude" in summary
    assert "5 systems, 7 services, 7 checks" in summary
    assert "target 99.99%" in summary and "target 99.9%" in summary
    assert "recovery target 8h" in summary
    for check in catalog.checks().values():
        assert isinstance(check, HttpCheck)
        assert check.url in summary
    assert (
        "every 30s, timeout 10s, confirm 2, stale after 1m30s, retry every 5s while failing"
        in summary
    )
    assert "hours 24x7" in summary
