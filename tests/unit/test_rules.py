"""The Prometheus rules generated from the catalog (app/rules.py)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.catalog import load_catalog, parse_catalog
from app.rules import (
    ALERT_NAMES,
    BASE_RECORD,
    DEFAULT_RUNBOOK_URL,
    generate_rules,
    render_rules_yaml,
    scaled_ms,
    window_record,
)

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "deploy" / "prometheus" / "kadou-rules.yml"
RUNBOOK = ROOT / "deploy" / "RUNBOOK.md"


def alerts_of(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def records_of(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in rules["groups"] for rule in group["rules"] if "record" in rule]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives headings: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_committed_rules_equal_a_fresh_generation_from_the_built_in_catalog() -> None:
    fresh = render_rules_yaml(load_catalog(None))
    assert RULES_FILE.read_text(encoding="utf-8") == fresh, (
        "deploy/prometheus/kadou-rules.yml is out of date: run `kadou rules`"
    )


def test_rendering_is_deterministic_and_parses_to_the_generated_rules() -> None:
    catalog = load_catalog(None)
    text = render_rules_yaml(catalog)
    assert text == render_rules_yaml(catalog)
    assert yaml.safe_load(text) == generate_rules(catalog)


def test_every_alert_has_labels_summary_description_and_a_runbook_anchor() -> None:
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    rules = generate_rules(load_catalog(None))
    seen = set()
    for alert in alerts_of(rules):
        seen.add(alert["alert"])
        labels, annotations = alert["labels"], alert["annotations"]
        assert labels["severity"] in ("page", "ticket"), alert["alert"]
        assert labels["system"], alert["alert"]
        assert annotations["summary"].strip(), alert["alert"]
        # "With the numbers": a threshold, a duration or the alert's own value.
        assert re.search(r"\d|\$value", annotations["description"]), annotations["description"]
        url, _, anchor = annotations["runbook_url"].partition("#")
        assert url == DEFAULT_RUNBOOK_URL
        assert anchor == alert["alert"].lower()
        assert anchor in anchors, f"deploy/RUNBOOK.md has no section for {alert['alert']}"
    assert seen == set(ALERT_NAMES)


def test_each_service_gets_the_four_burn_rate_alerts_with_thresholds_from_its_target() -> None:
    catalog = load_catalog(None)
    burn = [a for a in alerts_of(generate_rules(catalog)) if "ErrorBudgetBurn" in a["alert"]]
    assert len(burn) == 4 * len(catalog.services())
    factors = {"1h": Decimal("14.4"), "6h": Decimal(6), "1d": Decimal(3), "3d": Decimal(1)}
    for alert in burn:
        labels = alert["labels"]
        service = catalog.service(labels["system"], labels["service"])
        thresholds = {Decimal(t) for t in re.findall(r"> ([0-9.]+)", alert["expr"])}
        # Exact: 14.4 x (1 - 0.9999) is 0.00144, not a float approximation of it.
        assert thresholds == {factors[labels["long_window"]] * (1 - service.target)}
        assert labels["severity"] == ("page" if labels["long_window"] in ("1h", "6h") else "ticket")
        assert f'system="{service.system_id}", service="{service.id}"' in alert["expr"]
    mynaportal = [a for a in burn if a["labels"]["system"] == "mynaportal"]
    assert any("> 0.00144\n" in a["expr"] for a in mynaportal)


def test_the_error_ratio_comes_from_the_service_state_and_leaves_out_unknown_and_excluded() -> None:
    records = records_of(generate_rules(load_catalog(None)))
    base = next(r for r in records if r["record"] == BASE_RECORD)
    assert 'kadou_service_state{state="down"' in base["expr"]
    assert 'state="unknown"' in base["expr"] and "kadou_exclusion_active" in base["expr"]
    assert "kadou_probe_success" not in base["expr"]
    windows = {r["record"]: r["expr"] for r in records if r["record"] != BASE_RECORD}
    assert windows[window_record(3_600_000)] == f"avg_over_time({BASE_RECORD}[1h])"
    assert len(windows) == 7


def test_window_scale_shortens_every_window_but_keeps_the_recorded_names() -> None:
    catalog = load_catalog(None)
    scaled = generate_rules(catalog, window_scale=1 / 720)
    windows = {r["record"]: r["expr"] for r in records_of(scaled) if r["record"] != BASE_RECORD}
    assert windows[window_record(3_600_000)] == f"avg_over_time({BASE_RECORD}[5s])"
    assert windows[window_record(300_000)] == f"avg_over_time({BASE_RECORD}[1s])"
    assert windows[window_record(259_200_000)] == f"avg_over_time({BASE_RECORD}[6m])"
    at_risk = next(a for a in alerts_of(scaled) if a["alert"] == "KadouRecoveryTargetAtRisk")
    assert at_risk["for"] == "30s"  # 75 % of 8 h, scaled
    assert "--window-scale" in render_rules_yaml(catalog, window_scale=1 / 720).splitlines()[0]
    assert scaled_ms(3_600_000, 1.0) == 3_600_000


@pytest.mark.parametrize("scale", [0, -1, 1.5])
def test_window_scale_outside_zero_to_one_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="window_scale"):
        generate_rules(load_catalog(None), window_scale=scale)


def test_recovery_alerts_only_where_there_is_a_recovery_target() -> None:
    catalog = load_catalog(None)
    recovery = [a for a in alerts_of(generate_rules(catalog)) if "Recovery" in a["alert"]]
    expected = {(s.system_id, s.id) for s in catalog.services() if s.recovery_target_ms is not None}
    assert expected == {("info-network", "main")}
    assert {(a["labels"]["system"], a["labels"]["service"]) for a in recovery} == expected
    at_risk = next(a for a in recovery if a["alert"] == "KadouRecoveryTargetAtRisk")
    assert at_risk["for"] == "6h"
    assert "8h" in at_risk["annotations"]["description"]


def test_a_system_with_several_services_and_a_recovery_target_gets_system_rules() -> None:
    text = """
systems:
  - id: portal
    name: {ja: ポータル, en: Portal}
    target: 0.999
    recovery_target: 4h
    services:
      - id: a
        name: {ja: A, en: A}
        target: 0.999
        checks: [{id: http, type: http, interval: 60s, timeout: 5s, url: "http://127.0.0.1:1/a"}]
      - id: b
        name: {ja: B, en: B}
        target: 0.9999
        checks: [{id: http, type: http, interval: 20s, timeout: 5s, url: "http://127.0.0.1:1/b"}]
"""
    rules = generate_rules(parse_catalog(text, "test"))
    at_risk = [a for a in alerts_of(rules) if a["alert"] == "KadouRecoveryTargetAtRisk"]
    assert [a["labels"].get("service") for a in at_risk] == ["a", "b", None]
    assert all(a["for"] == "3h" for a in at_risk)
    no_obs = [a for a in alerts_of(rules) if a["alert"] == "KadouCheckNoObservations"]
    # stale_after is 3 x interval, but at least four 15 s scrapes.
    assert ["[3m]" in a["expr"] for a in no_obs] == [True, False]
    assert "[1m]" in no_obs[1]["expr"]
