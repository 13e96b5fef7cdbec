"""kadou probe --metrics-port: an agent's own metrics, dead letters included, for Prometheus."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from test_runner_servers import ResultsReceiver, TinyHttpServer, free_port, probe_target

from tests.support.catalogs import one_service_catalog

REPO = Path(__file__).resolve().parents[2]
CHECK = "jpki/main/http"


def samples(text: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.labels.get("writer") or sample.labels.get("check", "")
            found[(sample.name, key)] = sample.value
    return found


async def test_an_agent_exports_its_probes_and_dead_letters(tmp_path: Path) -> None:
    target = TinyHttpServer(probe_target)
    await target.start()
    # The server refuses every batch holding the check for good (HTTP 422).
    receiver = ResultsReceiver(mode=f"reject-check:{CHECK}")
    server = await receiver.start()
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        one_service_catalog(f"{target.base_url}/ok", interval="200ms", timeout="150ms"),
        encoding="utf-8",
    )
    port = free_port()
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from app.cli import app; app()",
        "probe", "--location", "osaka", "--push", server.base_url,
        "--spool-dir", str(tmp_path / "spool"), "--metrics-port", str(port),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "KADOU_CATALOG": str(catalog),
             "KADOU_AGENT_TOKEN": receiver.token},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    found: dict[tuple[str, str], float] = {}
    try:
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline and agent.returncode is None:
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                    found = samples(answer.text)
                except httpx.HTTPError:
                    pass
                if found.get(("kadou_agent_dead_letter_total", "agent"), 0) > 0:
                    break
                await asyncio.sleep(0.1)
        if agent.returncode is not None:
            raise AssertionError((await agent.communicate())[1].decode()[-3000:])
        agent.send_signal(signal.SIGTERM)
        await asyncio.wait_for(agent.communicate(), 15)
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
        await receiver.stop()
        await target.stop()
    assert found.get(("kadou_agent_dead_letter_total", "agent"), 0) > 0, found
    assert found[("kadou_probe_observations_total", "http")] > 0
    assert ("kadou_writer_backlog", "agent") in found
    assert list((tmp_path / "spool" / "rejected").glob("*.reason.txt"))
