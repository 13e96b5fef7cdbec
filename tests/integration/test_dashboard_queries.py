"""Every Grafana panel query is accepted by a real Prometheus (Debian's) loaded with the rules.

Prometheus parses and type-checks a query at ``/api/v1/query`` even when no series match,
so a typo, a wrong function or a vector/scalar mix-up in the dashboard shows up here.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from app.catalog import load_catalog
from app.rules import generate_rules, render_rules_yaml
from tests.support.prometheus import running_prometheus
from tests.unit.test_deploy_files import as_promql, dashboard_queries


def test_every_panel_query_is_accepted_by_prometheus(tmp_path: Path) -> None:
    rules = tmp_path / "kadou-rules.yml"
    rules.write_text(render_rules_yaml(load_catalog(None)), encoding="utf-8")
    queries = [as_promql(query) for query in dashboard_queries()]
    with running_prometheus(tmp_path, [rules]) as prometheus:
        rejected = {}
        for query in queries:
            answer = prometheus.query(query)
            if answer["status"] != "success":
                rejected[query] = answer.get("error")
        # The same endpoint refuses a broken query, so the loop above can fail.
        assert prometheus.query("sum(kadou_service_state")["status"] == "error"
        # The rules loaded too: Grafana reads recorded series, so they must evaluate.
        groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert sorted(group["name"] for group in groups) == sorted(
            group["name"] for group in generate_rules(load_catalog(None))["groups"]
        )
        assert all(rule["health"] != "err" for group in groups for rule in group["rules"])
    assert not rejected, rejected
    assert len(queries) >= 15
