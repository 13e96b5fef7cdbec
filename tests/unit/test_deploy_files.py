"""The deployment files, checked structurally (Docker and Kubernetes cannot run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from app.catalog import load_catalog, parse_catalog
from app.cli import app as kadou_cli
from app.rules import generate_rules

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "kadou.json"
KADOU_PORT = 8000

# The series Kadou's /metrics exports (issue 4); a histogram adds _bucket, _sum and _count.
EXPORTED_METRICS = {
    "kadou_probe_success",
    "kadou_probe_duration_seconds_bucket",
    "kadou_probe_duration_seconds_sum",
    "kadou_probe_duration_seconds_count",
    "kadou_probe_observations_total",
    "kadou_service_state",
    "kadou_sla_availability_ratio",
    "kadou_sla_target_ratio",
    "kadou_sla_scheduled_seconds",
    "kadou_sla_downtime_seconds",
    "kadou_sla_unknown_seconds",
    "kadou_sla_error_budget_remaining_seconds",
    "kadou_incident_open",
    "kadou_recovery_target_breached",
    "kadou_exclusion_active",
    "kadou_runner_heartbeat_timestamp_seconds",
    "kadou_month_version",
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def deploy_yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        # label_values(<selector>, label) is Grafana's; the selector inside is PromQL.
        match = re.fullmatch(r"label_values\((.*), *\w+\)", variable["query"]["query"])
        assert match, variable["query"]
        queries.append(match.group(1))
    return queries


def as_promql(query: str) -> str:
    """A dashboard query with Grafana's variables filled, as Grafana sends it."""
    replacements = {
        "$__rate_interval": "1m",
        "$__interval": "15s",
        "$__range": "1h",
        "$system": "info-network",
        "$service": "main",
    }
    for variable, value in replacements.items():
        query = query.replace(variable, value)
    return query


def metric_names(promql: str) -> set[str]:
    """The metric names in a PromQL expression (a small lexer: enough for our queries)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", promql)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(match.group())
    return names


@pytest.mark.parametrize("path", deploy_yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert yaml_documents(path), f"{path} is empty"


def test_the_dashboard_json_parses_and_has_the_overview_and_the_drill_down() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"system", "service"}
    for needed in ("State", "Month-to-date availability vs target", "Error budget burn rate",
                   "Probe latency percentiles", "Incidents", "System state"):  # fmt: skip
        assert needed in titles
    datasource = yaml_documents(DEPLOY / "grafana/provisioning/datasources/kadou.yaml")[0]
    uid = datasource["datasources"][0]["uid"]
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]


def test_dashboard_queries_use_only_exported_metrics_and_recorded_rules() -> None:
    recorded = {
        rule["record"]
        for group in generate_rules(load_catalog(None))["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    used: set[str] = set()
    for query in dashboard_queries():
        names = metric_names(as_promql(query))
        assert names, query
        assert names <= EXPORTED_METRICS | recorded, f"{names - EXPORTED_METRICS - recorded}"
        used |= names
    assert "kadou_probe_duration_seconds_bucket" in used
    assert any(name.startswith("system_service:kadou_service_error:") for name in used)


def test_metric_name_lexer_finds_names_and_skips_functions_and_labels() -> None:
    # The check above is only as good as this lexer.
    expr = 'sum by (le) (rate(foo_bucket{a="b(c)"}[5m])) / on (x) group_left bar and baz'
    assert metric_names(expr) == {"foo_bucket", "bar", "baz"}


def image_references() -> list[tuple[str, str]]:
    references: list[tuple[str, str]] = []
    for path in deploy_yaml_files():
        text = path.read_text(encoding="utf-8")
        references += [(str(path), m) for m in re.findall(r"^\s*-?\s*image:\s*(\S+)", text, re.M)]
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    references += [("Dockerfile", m) for m in re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)]
    return references


def test_every_image_is_pinned_to_an_explicit_version() -> None:
    references = image_references()
    assert len(references) >= 8
    for where, image in references:
        name, _, tag = image.rpartition(":")
        assert name and tag, f"{where}: {image} has no tag"
        assert tag != "latest", f"{where}: {image}"
        assert re.search(r"\d+\.\d+", tag), f"{where}: {image} is not pinned to a version"


def test_the_image_runs_as_non_root_with_a_healthcheck() -> None:
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^FROM python:3\.11\.\d+-slim", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile


def test_the_port_is_the_same_everywhere() -> None:
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^EXPOSE\s+(\d+)", dockerfile, re.M) == [str(KADOU_PORT)]
    assert f"127.0.0.1:{KADOU_PORT}/healthz" in dockerfile
    assert f'"--port", "{KADOU_PORT}"' in dockerfile

    compose = yaml_documents(DEPLOY / "docker" / "compose.yaml")[0]
    kadou = compose["services"]["kadou"]
    assert kadou["ports"] == [f"{KADOU_PORT}:{KADOU_PORT}"]
    assert kadou["command"][-1] == str(KADOU_PORT)

    prometheus = yaml_documents(DEPLOY / "prometheus" / "prometheus.yml")[0]
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "kadou")
    assert job["static_configs"][0]["targets"] == [f"kadou:{KADOU_PORT}"]

    server = yaml_documents(DEPLOY / "k8s" / "deployment-server.yaml")[0]
    container = server["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == KADOU_PORT
    assert container["command"][-1] == str(KADOU_PORT)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = yaml_documents(DEPLOY / "k8s" / "service.yaml")[0]
    assert service["spec"]["ports"][0]["port"] == KADOU_PORT
    agent = yaml_documents(DEPLOY / "k8s" / "deployment-agent-osaka.yaml")[0]
    agent_command = agent["spec"]["template"]["spec"]["containers"][0]["command"]
    assert f"http://kadou.kadou.svc:{KADOU_PORT}" in agent_command

    unit = (DEPLOY / "systemd" / "kadou-server.service").read_text(encoding="utf-8")
    assert f"--port {KADOU_PORT}" in unit


def test_compose_brings_up_the_whole_stack_with_the_generated_rules() -> None:
    compose = yaml_documents(DEPLOY / "docker" / "compose.yaml")[0]
    services = compose["services"]
    assert {"kadou", "postgres", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert "postgresql+psycopg://" in services["kadou"]["environment"]["KADOU_DATABASE_URL"]
    compose_dir = DEPLOY / "docker"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (compose_dir / source).resolve().exists(), volume
    mounts = " ".join(services["prometheus"]["volumes"])
    assert "kadou-rules.yml:/etc/prometheus/rules/kadou-rules.yml" in mounts
    prometheus = yaml_documents(DEPLOY / "prometheus" / "prometheus.yml")[0]
    assert prometheus["rule_files"] == ["/etc/prometheus/rules/kadou-rules.yml"]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
    grafana_mounts = " ".join(services["grafana"]["volumes"])
    assert "/etc/grafana/provisioning/datasources" in grafana_mounts
    assert "/etc/grafana/provisioning/dashboards" in grafana_mounts
    provider = yaml_documents(DEPLOY / "grafana/provisioning/dashboards/kadou.yaml")[0]
    assert provider["providers"][0]["options"]["path"] in grafana_mounts


def test_kubernetes_manifests_are_complete_and_hardened() -> None:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml_documents(path):
            kinds.setdefault(doc["kind"], []).append(doc)
    assert len(kinds["Deployment"]) == 3
    assert {"ConfigMap", "Secret", "Service", "Kustomization", "Namespace"} <= set(kinds)
    assert {"PodDisruptionBudget", "PersistentVolumeClaim"} <= set(kinds)
    for deployment in kinds["Deployment"]:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    catalog_text = kinds["ConfigMap"][0]["data"]["catalog.yaml"]
    assert parse_catalog(catalog_text, "configmap").systems


def k8s_document(name: str) -> dict[str, Any]:
    documents = yaml_documents(DEPLOY / "k8s" / name)
    assert len(documents) == 1, name
    document: dict[str, Any] = documents[0]
    return document


def container_env(container: dict[str, Any]) -> dict[str, Any]:
    """Each variable's value, or its valueFrom source."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = k8s_document("kustomization.yaml")
    manifests = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_the_server_runs_two_replicas_that_survive_a_drain_and_share_the_probing() -> None:
    server = k8s_document("deployment-server.yaml")
    assert server["spec"]["replicas"] == 2
    assert server["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod_labels = server["spec"]["template"]["metadata"]["labels"]

    budget = k8s_document("pdb-server.yaml")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = k8s_document("service.yaml")
    assert service["spec"]["selector"].items() <= pod_labels.items()

    pod = server["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # The embedded runners share tokyo's checks, each under its own runner id.
    assert "--no-probes" not in container["command"]
    env = container_env(container)
    assert env["KADOU_SHARE_CHECKS"] == "true"
    assert env["KADOU_RUNNER_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["KADOU_LOCATION"] == "tokyo"
    # Sessions signed by one replica are honoured by the other.
    secret = k8s_document("secret.yaml")
    assert env["KADOU_SESSION_SECRET"]["secretKeyRef"]["key"] in secret["stringData"]

    # The reports are written by whichever replica exports: a volume every replica shares.
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    reports = volumes[mounts["/var/lib/kadou/reports"]]
    claim = k8s_document("pvc-reports.yaml")
    assert reports["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    # The spool is the pod's own: two runners must not share one.
    assert "emptyDir" in volumes[mounts["/var/lib/kadou/spool"]]


@pytest.mark.parametrize(("location", "replicas"), [("tokyo", 2), ("osaka", 1)])
def test_each_location_has_an_agent_deployment_sharing_checks_with_a_token_file(
    location: str, replicas: int
) -> None:
    agent = k8s_document(f"deployment-agent-{location}.yaml")
    assert agent["spec"]["replicas"] == replicas
    assert agent["spec"]["selector"]["matchLabels"]["kadou.dev/location"] == location
    pod = agent["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["command"]

    def argument(option: str) -> str:
        assert option in command, f"{location}: {option} missing"
        value: str = command[command.index(option) + 1]
        return value

    assert command[:2] == ["kadou", "probe"]
    # `kadou probe` accepts the command line (parsed, not run).
    cli = typer.main.get_command(kadou_cli)
    assert isinstance(cli, typer.core.TyperGroup)
    parsed = cli.commands["probe"].make_context("probe", command[2:]).params
    assert parsed["share_checks"] is True
    assert argument("--location") == location
    assert argument("--push") == f"http://kadou.kadou.svc:{KADOU_PORT}"
    assert "--share-checks" in command
    assert "--token" not in command
    assert "KADOU_AGENT_TOKEN" not in container_env(container)

    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    # The token file is a key of the Secret, mounted read-only, readable by the pod's group.
    token_path = Path(argument("--token-file"))
    token_mount = mounts[str(token_path.parent)]
    assert token_mount["readOnly"] is True
    token_volume = volumes[token_mount["name"]]["secret"]
    secret = k8s_document("secret.yaml")
    assert token_volume["secretName"] == secret["metadata"]["name"]
    (item,) = token_volume["items"]
    assert item == {"key": f"agent-token-{location}", "path": token_path.name}
    assert item["key"] in secret["stringData"]
    assert token_volume["defaultMode"] & 0o007 == 0, "the token is readable by everyone"
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]

    # Undelivered results are kept on a volume, not the (read-only) root filesystem.
    spool = mounts[argument("--spool-dir")]
    assert spool["name"] in volumes


def test_systemd_units_are_hardened_and_the_agent_is_per_location() -> None:
    for name in ("kadou-server.service", "kadou-agent@.service"):
        unit = (DEPLOY / "systemd" / name).read_text(encoding="utf-8")
        for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=kadou",
                       "CapabilityBoundingSet=", "PrivateTmp=yes"):  # fmt: skip
            assert option in unit, f"{name}: {option}"
    agent = (DEPLOY / "systemd" / "kadou-agent@.service").read_text(encoding="utf-8")
    assert "--location %i" in agent


def test_alertmanager_routes_both_severities() -> None:
    config = yaml_documents(DEPLOY / "prometheus" / "alertmanager.yml")[0]
    receivers = {receiver["name"] for receiver in config["receivers"]}
    routed = {route["receiver"] for route in config["route"]["routes"]}
    assert routed == receivers == {"page", "ticket"}


def test_the_image_has_the_runtime_packages_the_bootstrap_installs() -> None:
    """The PDF reports need fonts (and Pango for WeasyPrint); an image without them fails at
    the first PDF, so the image installs the same Debian packages as scripts/bootstrap."""
    bootstrap = (DEPLOY.parent / "scripts" / "bootstrap").read_text(encoding="utf-8")
    packages = re.search(r"^RUNTIME_PACKAGES=\(([^)]*)\)", bootstrap, re.M)
    assert packages, "scripts/bootstrap no longer lists RUNTIME_PACKAGES"
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text(encoding="utf-8")
    missing = [name for name in packages.group(1).split() if name not in dockerfile]
    assert not missing, f"deploy/docker/Dockerfile does not install {missing}"
