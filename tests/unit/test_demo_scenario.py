"""The demo scenario's comments agree with the built-in catalog it runs against."""

from __future__ import annotations

import re
from pathlib import Path

from app.catalog import load_catalog
from probes.simulator import load_scenario

DEMO = Path(__file__).resolve().parents[2] / "probes" / "simulator" / "scenarios" / "demo.yaml"


def test_the_demo_scenario_speaks_of_the_catalog_interval() -> None:
    catalog = load_catalog(None)
    checks = catalog.checks().values()
    text = DEMO.read_text(encoding="utf-8")
    stated = {int(seconds) for seconds in re.findall(r"(\d+) s\b", text)}
    intervals = {check.interval_ms // 1000 for check in checks}
    assert stated == intervals == {30}
    confirms = {check.confirm for check in checks}
    assert f"confirm: {confirms.pop()}" in text and not confirms


def test_blips_and_incidents_are_what_their_comments_say() -> None:
    catalog = load_catalog(None)
    text = DEMO.read_text(encoding="utf-8")
    comments: dict[str, str] = {}
    service_key = ""
    for line in text.splitlines():
        if matched := re.match(r"\s+service: (\S+)", line):
            service_key = matched.group(1)
        elif matched := re.match(r"\s+for: \S+\s+# (.*)", line):
            comments[service_key] = matched.group(1)
    assert len(comments) >= 2
    for event in load_scenario(DEMO).events:
        system, service = event.service.split("/")
        check = catalog.service(system, service).checks[0]
        assert event.for_ms is not None
        comment = comments.get(event.service, "")
        if "a blip" in comment:  # fewer failed probes in a row than confirm needs
            assert event.for_ms < check.interval_ms
        if "an incident" in comment:
            assert event.for_ms >= (check.confirm + 1) * check.interval_ms
