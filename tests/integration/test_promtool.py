"""promtool on the generated rules: they load, and each alert fires on the inputs it should.

The unit tests in deploy/prometheus/tests/ are written for the built-in catalog at full
scale; the scaled rules (``window_scale``, used by the end-to-end test) are checked here with
cases built from the catalog, so the short windows are proven to fire within seconds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from app.catalog import load_catalog
from app.rules import ALERT_NAMES, generate_rules, render_rules_yaml
from tests.support.prometheus import require_binary

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
UNIT_TESTS = PROMETHEUS_DIR / "tests" / "kadou-rules.test.yml"


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool")
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def test_promtool_accepts_the_committed_and_a_freshly_generated_rule_file(tmp_path: Path) -> None:
    fresh = tmp_path / "kadou-rules.yml"
    fresh.write_text(render_rules_yaml(load_catalog(None)), encoding="utf-8")
    result = promtool("check", "rules", str(PROMETHEUS_DIR / "kadou-rules.yml"), str(fresh))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


def test_the_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    document = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    cases = [case for test in document["tests"] for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    generated = {
        rule["alert"]
        for group in generate_rules(load_catalog(None))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert generated == set(ALERT_NAMES)
    assert firing == generated, f"alerts never shown firing: {generated - firing}"
    assert silent >= generated - {"KadouErrorBudgetExhausted", "KadouCheckNoObservations"}


def test_a_broken_rule_file_is_refused(tmp_path: Path) -> None:
    # Guards the check above against a promtool that accepts anything.
    broken = tmp_path / "broken.yml"
    text = render_rules_yaml(load_catalog(None)).replace("avg_over_time(", "avg_over_time((", 1)
    broken.write_text(text, encoding="utf-8")
    result = promtool("check", "rules", str(broken))
    assert result.returncode != 0


def _expected(rule: dict[str, Any], value_text: str) -> dict[str, Any]:
    annotations = {
        name: text.replace("{{ $value | humanizePercentage }}", value_text)
        for name, text in rule["annotations"].items()
    }
    return {"exp_labels": rule["labels"], "exp_annotations": annotations}


def _state_series(system: str, service: str, down: str, up: str) -> list[dict[str, str]]:
    selector = f'system="{system}", service="{service}"'
    return [
        {"series": f'kadou_service_state{{{selector}, state="down"}}', "values": down},
        {"series": f'kadou_service_state{{{selector}, state="up"}}', "values": up},
        {"series": f'kadou_service_state{{{selector}, state="unknown"}}', "values": "0x120"},
    ]


def test_scaled_windows_fire_within_seconds_and_clear(tmp_path: Path) -> None:
    """window_scale=1/720: the 1h window is 5s, so a page fires in seconds, not an hour."""
    catalog = load_catalog(None)
    rules = generate_rules(catalog, window_scale=1 / 720)
    (tmp_path / "rules.yml").write_text(
        render_rules_yaml(catalog, window_scale=1 / 720), encoding="utf-8"
    )
    burn = {
        (rule["alert"], rule["labels"]["system"], rule["labels"]["long_window"]): rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert", "").startswith("KadouErrorBudgetBurn")
    }
    # card-management is down for the first 20 s, then up; jpki stays up throughout.
    fast = [burn["KadouErrorBudgetBurnFast", "card-management", w] for w in ("5s", "30s")]
    slow = [burn["KadouErrorBudgetBurnSlow", "card-management", w] for w in ("2m", "6m")]
    at_risk = next(
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "KadouRecoveryTargetAtRisk"
    )
    assert at_risk["for"] == "30s"
    document = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1s",
        "tests": [
            {
                "name": "scaled burn-rate windows",
                "interval": "1s",
                "input_series": [
                    *_state_series("card-management", "main", "1x19 0x100", "0x19 1x100"),
                    *_state_series("jpki", "main", "0x120", "1x120"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10s",
                        "alertname": "KadouErrorBudgetBurnFast",
                        "exp_alerts": [_expected(rule, "100%") for rule in fast],
                    },
                    {
                        "eval_time": "10s",
                        "alertname": "KadouErrorBudgetBurnSlow",
                        "exp_alerts": [_expected(rule, "100%") for rule in slow],
                    },
                    # 10 s after recovery the 5s and 2s (30m) short windows are clean.
                    {"eval_time": "30s", "alertname": "KadouErrorBudgetBurnFast", "exp_alerts": []},
                ],
            },
            {
                "name": "scaled recovery lead time",
                "interval": "1s",
                "input_series": [
                    {
                        "series": 'kadou_incident_open{system="info-network", service="main"}',
                        "values": "1x60",
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20s",
                        "alertname": "KadouRecoveryTargetAtRisk",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "40s",
                        "alertname": "KadouRecoveryTargetAtRisk",
                        "exp_alerts": [
                            {
                                "exp_labels": at_risk["labels"],
                                "exp_annotations": at_risk["annotations"],
                            }
                        ],
                    },
                ],
            },
        ],
    }
    (tmp_path / "scaled.test.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    result = promtool("test", "rules", "scaled.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_is_valid_with_the_rules_in_place(tmp_path: Path) -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    # The compose file mounts the rules at /etc/prometheus/rules; point at the repo's copy.
    shutil.copy(PROMETHEUS_DIR / "kadou-rules.yml", tmp_path / "kadou-rules.yml")
    config["rule_files"] = [str(tmp_path / "kadou-rules.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
