"""The catalog model keeps its invariants when built in code, not only through the loader."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from app.catalog import Catalog, HttpCheck, Service, System


def http_check(check_id: str = "http", **overrides: Any) -> dict[str, Any]:
    return {
        "id": check_id,
        "type": "http",
        "url": "http://127.0.0.1:8081/x/health",
        "interval_ms": 30_000,
        "timeout_ms": 10_000,
        **overrides,
    }


def service(service_id: str = "main", **overrides: Any) -> dict[str, Any]:
    return {
        "id": service_id,
        "name": {"ja": "主要", "en": "Main"},
        "target": "0.999",
        "checks": [http_check()],
        **overrides,
    }


def system(system_id: str = "jpki", **overrides: Any) -> dict[str, Any]:
    return {
        "id": system_id,
        "name": {"ja": "JPKI", "en": "JPKI"},
        "target": "0.999",
        "services": [service()],
        **overrides,
    }


def test_a_catalog_built_in_code_gets_keys_system_ids_and_inherited_recovery() -> None:
    own = service("batch", recovery_target_ms=60_000, checks=[http_check("a"), http_check("b")])
    catalog = Catalog.model_validate(
        {"systems": [system("info-network", recovery_target_ms=28_800_000,
                            services=[service(), own])]}
    )  # fmt: skip
    assert sorted(catalog.checks()) == [
        "info-network/batch/a",
        "info-network/batch/b",
        "info-network/main/http",
    ]
    assert [s.system_id for s in catalog.services()] == ["info-network", "info-network"]
    assert catalog.service("info-network", "main").recovery_target_ms == 28_800_000
    assert catalog.service("info-network", "batch").recovery_target_ms == 60_000


def test_service_instances_are_linked_to_their_system() -> None:
    built = Service.model_validate(service())
    assert built.system_id == "" and built.checks[0].key == ""
    linked = System.model_validate(system(services=[built])).services[0]
    assert linked.system_id == "jpki"
    assert linked.checks[0].key == "jpki/main/http"


def test_stale_after_defaults_to_three_intervals() -> None:
    assert HttpCheck.model_validate(http_check()).stale_after_ms == 90_000
    assert HttpCheck.model_validate(http_check(stale_after_ms=45_000)).stale_after_ms == 45_000


@pytest.mark.parametrize(
    ("overrides", "message_part"),
    [
        ({"timeout_ms": 30_000}, "shorter than the interval"),
        ({"stale_after_ms": 10_000}, "at least the interval"),
        ({"interval_ms": 0}, "greater than 0"),
        ({"confirm": 0}, "greater than or equal to 1"),
        ({"url": "ftp://example.org/"}, "http:// or https://"),
        ({"url": "/health"}, "http:// or https://"),
        ({"method": "FETCH"}, "method must be one of"),
        ({"expected_status": [99]}, "greater than or equal to 100"),
        ({"id": "Http"}, "pattern"),
    ],
)
def test_check_validation(overrides: dict[str, Any], message_part: str) -> None:
    with pytest.raises(ValidationError, match=message_part):
        HttpCheck.model_validate(http_check(**overrides))


@pytest.mark.parametrize(
    ("catalog_input", "message_part"),
    [
        ({"systems": [system(), system()]}, "duplicate system id 'jpki'"),
        ({"systems": [system(services=[service(), service()])]}, "duplicate service id"),
        ({"systems": [system(services=[service(checks=[http_check(), http_check()])])]},
         "duplicate check id"),
        ({"systems": [system(target="1")]}, "strictly between 0 and 1"),
        ({"systems": [system(services=[service(target="0")])]}, "strictly between 0 and 1"),
        ({"systems": [system(services=[service(quorum=0)])]}, "greater than or equal to 1"),
        ({"systems": [system(services=[service(system_id="other")])]}, "belongs to 'jpki'"),
        ({"systems": []}, "at least 1 item"),
        ({"timezone": "JST", "systems": [system()]}, "IANA"),
        ({"timezone": "localtime", "systems": [system()]}, "IANA"),
    ],
)  # fmt: skip
def test_catalog_validation(catalog_input: dict[str, Any], message_part: str) -> None:
    with pytest.raises(ValidationError, match=message_part):
        Catalog.model_validate(catalog_input)


def test_target_stays_exact() -> None:
    catalog = Catalog.model_validate({"systems": [system(target="0.9999")]})
    assert 1 - catalog.system("jpki").target == Decimal("0.0001")
