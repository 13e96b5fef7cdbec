"""End to end with a real Prometheus: simulator → ``kadou serve`` on PostgreSQL → Prometheus.

Every part is the real thing, started the way an operator starts it: the simulator of the
five systems (in-process, on free loopback ports), ``kadou serve`` as a subprocess with the
embedded probe runner on a fresh PostgreSQL database (schema by ``kadou db upgrade``, a
viewer token by ``kadou token create``), and Debian's ``prometheus`` scraping ``/metrics``
every second with that token and the rules written by ``kadou rules --window-scale 1/720``
(the 1h burn-rate window becomes 5 s). A fault injected into one service must show in
Prometheus's HTTP API as the down state, a month-to-date availability below 1 and the page
burn-rate alert firing; clearing it must bring the state back to up and resolve the alert.
A second, healthy service must stay up and silent all along, so the assertions cannot pass
on a Kadou that marks everything down.

Everything is polled under deadlines, never slept on: this Prometheus takes about 6 s to
its first scrape (its discovery manager batches target updates for 5 s). Skipped with the
reason when ``prometheus`` or PostgreSQL is missing, except with ``CI=true``, where that is
a failure. The logs of every process are printed when the test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from probes.simulator import SimulatorServer
from tests.support.processes import LOG_TAIL_CHARS, ManagedProcess, SimulatorThread
from tests.support.prometheus import free_loopback_port, require_binary

pytestmark = pytest.mark.postgres

REPO_ROOT = Path(__file__).resolve().parents[2]
KADOU = str(Path(sys.executable).with_name("kadou"))
# 1/720 turns the 1h window of the page alert into 5 s and its 5m window into 1 s (the
# shortest a window can be, app/rules.py scaled_ms); one-second scrapes fill both.
WINDOW_SCALE = repr(1 / 720)
# The long window of the 1h/5m page alert at that scale, as its `long_window` label reads.
FAST_LONG_WINDOW = "5s"
SCRAPE_INTERVAL = "1s"
# Two of the simulator's services (probes.simulator.faults.DEFAULT_SERVICES).
FAULTED = ("jpki", "main")
HEALTHY = ("card-management", "main")
# The first scrape alone takes ~6 s; then a confirmed outage needs 2 probes of 1 s, a
# snapshot refresh, a scrape and a rule evaluation (1 s each).
FIRST_SCRAPE_DEADLINE_S = 40.0
CHANGE_DEADLINE_S = 25.0
POLL_S = 0.25

T = TypeVar("T")


# --- the parts ----------------------------------------------------------------------------


@dataclass
class Stack:
    """What the test talks to, and the processes whose logs explain a failure."""

    processes: list[ManagedProcess] = field(default_factory=list)
    kadou_url: str = ""
    prometheus_url: str = ""
    control_url: str = ""

    def start(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.processes.append(ManagedProcess.start(name, argv, env, workdir))

    def check_alive(self) -> None:
        for managed in self.processes:
            if not managed.alive():
                raise AssertionError(
                    f"{managed.name} exited with {managed.process.returncode}:\n"
                    f"{managed.log_tail()}"
                )

    def print_logs(self) -> None:
        for managed in self.processes:
            print(f"\n===== {managed.name} (last {LOG_TAIL_CHARS} chars) =====")
            print(managed.log_tail())


def write_catalog(path: Path, simulator: SimulatorServer) -> None:
    """Two services probed every second, each on its own simulator port."""

    def system(system_id: str, service_id: str) -> dict[str, Any]:
        return {
            "id": system_id,
            "name": {"ja": system_id, "en": system_id},
            "target": 0.999,
            "services": [
                {
                    "id": service_id,
                    "name": {"ja": service_id, "en": f"{system_id} {service_id}"},
                    "target": 0.999,
                    "checks": [
                        {
                            "id": "http",
                            "type": "http",
                            "url": simulator.service_url(f"{system_id}/{service_id}"),
                            "interval": "1s",
                            "timeout": "500ms",
                            "confirm": 2,
                        }
                    ],
                }
            ],
        }

    catalog = {"timezone": "Asia/Tokyo", "systems": [system(*HEALTHY), system(*FAULTED)]}
    path.write_text(yaml.safe_dump(catalog, sort_keys=False), encoding="utf-8")


def kadou_command(env: dict[str, str], workdir: Path, *args: str) -> str:
    """Run one ``kadou`` command to completion; its stdout, or a failure with its output."""
    done = subprocess.run(
        [KADOU, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"kadou {' '.join(args)} -> {done.returncode}\n{done.stderr}"
    return done.stdout


def prometheus_config(kadou_target: str, rules_path: Path, token_path: Path, workdir: Path) -> Path:
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules_path)],
        "scrape_configs": [
            {
                "job_name": "kadou",
                "metrics_path": "/metrics",
                "scrape_timeout": SCRAPE_INTERVAL,
                # The deployed way (deploy/prometheus/prometheus.yml): a viewer token.
                "authorization": {"credentials_file": str(token_path)},
                "static_configs": [{"targets": [kadou_target]}],
            }
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def wait_for(
    stack: Stack, what: str, probe: Callable[[], T | None], deadline_s: float = CHANGE_DEADLINE_S
) -> T:
    """Poll ``probe`` until it returns a value (not None), the processes still alive."""
    deadline = time.monotonic() + deadline_s
    last_error = ""
    while True:
        stack.check_alive()
        try:
            value = probe()
        except (httpx.HTTPError, ValueError) as error:  # not listening yet, a bad answer
            value, last_error = None, f" (last error: {error!r})"
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}{last_error}")
        time.sleep(POLL_S)  # a poll interval under a deadline, not a fixed wait


@contextmanager
def logs_on_failure(stack: Stack) -> Iterator[None]:
    try:
        yield
    except BaseException:
        stack.print_logs()  # pytest shows captured output of a failed test
        raise


# --- talking to Prometheus ----------------------------------------------------------------


def instant(stack: Stack, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": expr}, timeout=5)
    answer = response.json()
    assert answer["status"] == "success", f"{expr}: {answer}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def scalar_of(stack: Stack, expr: str) -> float | None:
    """The value of a one-series query, None while it has no series."""
    result = instant(stack, expr)
    assert len(result) <= 1, f"{expr} matched several series: {result}"
    return float(result[0]["value"][1]) if result else None


def selector(service: tuple[str, str]) -> str:
    return f'system="{service[0]}", service="{service[1]}"'


def state_is(stack: Stack, service: tuple[str, str], state: str) -> bool:
    return scalar_of(stack, f'kadou_service_state{{{selector(service)}, state="{state}"}}') == 1


def page_alert_states(stack: Stack, service: tuple[str, str]) -> dict[str, str]:
    """Long window -> state of the active page burn-rate alerts of one service."""
    response = httpx.get(f"{stack.prometheus_url}/api/v1/alerts", timeout=5)
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return {
        alert["labels"]["long_window"]: alert["state"]
        for alert in alerts
        if alert["labels"].get("alertname") == "KadouErrorBudgetBurnFast"
        and alert["labels"].get("severity") == "page"
        and (alert["labels"].get("system"), alert["labels"].get("service")) == service
    }


# --- the test -----------------------------------------------------------------------------


@pytest.fixture
def prometheus_binary() -> str:
    return require_binary("prometheus")


@pytest.fixture
def stack(prometheus_binary: str, postgres_url: str, tmp_path: Path) -> Iterator[Stack]:
    # prometheus_binary comes first: a missing binary skips before a database is created.
    assert Path(KADOU).exists(), (
        f"{KADOU} is missing: install Kadou in this venv (pip install -e .)"
    )
    stack = Stack()
    with ExitStack() as cleanup, logs_on_failure(stack):
        simulator = cleanup.enter_context(SimulatorThread())
        stack.control_url = simulator.control_url
        catalog_path = tmp_path / "catalog.yaml"
        write_catalog(catalog_path, simulator)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "KADOU_DATABASE_URL": postgres_url,
            "KADOU_CATALOG": str(catalog_path),
            "KADOU_LOCATION": "e2e",
            "KADOU_PUBLIC_READ": "false",
            # Scrapes every second must see a snapshot at most a second old.
            "KADOU_METRICS_REFRESH_SECONDS": "1",
            "KADOU_REPORT_DIR": str(tmp_path / "reports"),
        }
        kadou_command(env, tmp_path, "db", "upgrade")
        token_path = tmp_path / "prometheus-token"
        token = kadou_command(
            env, tmp_path, "token", "create", "--name", "prometheus", "--role", "viewer"
        )
        token_path.write_text(token.strip(), encoding="utf-8")
        rules_path = tmp_path / "kadou-rules.yml"
        kadou_command(
            env, tmp_path, "rules", "--out", str(rules_path), "--window-scale", WINDOW_SCALE
        )

        kadou_port = free_loopback_port()
        stack.kadou_url = f"http://127.0.0.1:{kadou_port}"
        stack.start("kadou-serve", [KADOU, "serve", "--port", str(kadou_port)], env, tmp_path)
        cleanup.callback(stack.processes[-1].stop)
        wait_for(
            stack,
            "kadou serve answers /readyz",
            lambda: True if httpx.get(f"{stack.kadou_url}/readyz").status_code == 200 else None,
        )
        # Without the token /metrics is closed, so Prometheus really scrapes with it.
        assert httpx.get(f"{stack.kadou_url}/metrics").status_code == 401

        prometheus_port = free_loopback_port()
        stack.prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        config_path = prometheus_config(f"127.0.0.1:{kadou_port}", rules_path, token_path, tmp_path)
        stack.start(
            "prometheus",
            [
                prometheus_binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            env,
            tmp_path,
        )
        cleanup.callback(stack.processes[-1].stop)
        yield stack


def test_fault_shows_in_prometheus_as_down_state_lower_sla_and_page_alert(stack: Stack) -> None:
    with logs_on_failure(stack):
        wait_for(
            stack,
            "Prometheus is ready and has scraped kadou_service_state",
            lambda: instant(stack, "kadou_service_state") or None,
            FIRST_SCRAPE_DEADLINE_S,
        )
        wait_for(stack, f"{HEALTHY} is up", lambda: state_is(stack, HEALTHY, "up") or None)
        wait_for(stack, f"{FAULTED} is up", lambda: state_is(stack, FAULTED, "up") or None)
        # The rules are loaded and evaluated: the recorded ratios exist (0 while all is up).
        wait_for(
            stack,
            "the recorded 1h error ratio of the faulted service is 0",
            lambda: scalar_of(
                stack,
                f"system_service:kadou_service_error:ratio_rate1h{{{selector(FAULTED)}}} == 0",
            ),
        )
        assert page_alert_states(stack, FAULTED) == {}

        fault = httpx.put(f"{stack.control_url}/{FAULTED[0]}/{FAULTED[1]}", json={"fault": "error"})
        assert fault.status_code < 300, fault.text

        wait_for(stack, f"{FAULTED} is down", lambda: state_is(stack, FAULTED, "down") or None)
        availability = wait_for(
            stack,
            f"the month-to-date availability of {FAULTED} drops below 1",
            lambda: scalar_of(stack, f"kadou_sla_availability_ratio{{{selector(FAULTED)}}} < 1"),
        )
        assert 0 <= availability < 1
        # The 1h/5m page alert, its windows scaled by `kadou rules --window-scale` to 5s/1s.
        # It has no `for`, so Prometheus turns it from inactive to firing in one evaluation
        # (pending is never observable); if it is ever seen pending, that must come first.
        seen: list[str] = []

        def fast_page_alert_firing() -> bool | None:
            state = page_alert_states(stack, FAULTED).get(FAST_LONG_WINDOW)
            if state is not None and (not seen or seen[-1] != state):
                seen.append(state)
            return True if state == "firing" else None

        wait_for(stack, f"the 1h/5m page alert of {FAULTED} fires", fast_page_alert_firing)
        assert seen in (["firing"], ["pending", "firing"]), seen

        # The healthy service saw none of it.
        assert state_is(stack, HEALTHY, "up")
        assert scalar_of(stack, f"kadou_sla_availability_ratio{{{selector(HEALTHY)}}}") == 1
        assert page_alert_states(stack, HEALTHY) == {}

        cleared = httpx.delete(stack.control_url)
        assert cleared.status_code < 300, cleared.text

        wait_for(stack, f"{FAULTED} is up again", lambda: state_is(stack, FAULTED, "up") or None)
        wait_for(
            stack,
            f"the page burn-rate alerts of {FAULTED} resolve",
            lambda: True if page_alert_states(stack, FAULTED) == {} else None,
        )
        # The outage stays in the month's figures: availability does not return to 1.
        after = scalar_of(stack, f"kadou_sla_availability_ratio{{{selector(FAULTED)}}}")
        assert after is not None and after < 1
