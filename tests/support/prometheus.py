"""A real Prometheus for tests: find Debian's binaries, start one on loopback, wait for it.

Tests that need ``promtool`` or ``prometheus`` skip with the reason when the Debian package
is not installed, except in CI (``CI=true``), where a missing binary is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.ports import free_port as free_loopback_port

IN_CI = os.environ.get("CI", "").lower() == "true"
# Debian's 2.42 takes a few seconds to open its TSDB and load rules.
READY_DEADLINE_S = 60.0


def require_binary(name: str) -> str:
    """The path of ``name`` (promtool, prometheus); skip, or fail in CI, when it is missing."""
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} is not installed (Debian package 'prometheus': apt-get install prometheus)"
        )
        if IN_CI:
            pytest.fail(f"{reason}; it is required in CI")
        pytest.skip(reason)
    return path


@dataclass(frozen=True)
class RunningPrometheus:
    url: str
    process: subprocess.Popen[bytes]

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of ``/api/v1/query`` (``status`` is ``success`` or ``error``)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        answer: dict[str, Any] = response.json()
        return answer


@contextmanager
def running_prometheus(
    workdir: Path,
    rule_files: list[Path],
    scrape_targets: list[str] | None = None,
    *,
    interval: str = "15s",
) -> Iterator[RunningPrometheus]:
    """Prometheus on a free loopback port with ``rule_files``, its data in ``workdir``."""
    binary = require_binary("prometheus")
    port = free_loopback_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": "kadou", "static_configs": [{"targets": scrape_targets or []}]}
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield RunningPrometheus(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise AssertionError(f"prometheus exited with {process.returncode}:\n{log}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)  # a poll interval under a deadline, not a fixed wait
    raise AssertionError(f"prometheus at {url} not ready after {READY_DEADLINE_S} s")
