"""A month amended after its observations were pruned gets its next evidence bundle beside
the first, carrying the pruned observations, the late ones and the new version (§9)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from app.evidence import verify_bundle
from tests.integration.test_prune import OCTOBER_ROWS, kadou  # noqa: F401 (the fixture)
from tests.support.cli import KadouCli


def _late_file(tmp_path: Path) -> Path:
    # 25 October, long after the retained last success: three failures, then a success.
    lines = [
        json.dumps(
            {
                "check": "jpki/main/http",
                "location": "tokyo",
                "observed_at": f"2026-10-25T03:0{minute}:00+09:00",
                "ok": minute == 3,
            }
        )
        for minute in range(4)
    ]
    path = tmp_path / "late.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(bundle: Path) -> int:
    with zipfile.ZipFile(bundle) as archive:
        return len(archive.read("observations.csv").decode().splitlines()) - 1


def test_an_amendment_after_a_prune_writes_the_next_bundle_beside_the_first(
    kadou: KadouCli,  # noqa: F811
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    kadou("month", "close", "2026-10")
    assert "wrote" in kadou("db", "prune")
    first = reports / "kadou-2026-10-evidence.zip"
    original = first.read_bytes()
    assert _rows(first) == OCTOBER_ROWS

    kadou("import", str(_late_file(tmp_path)))
    out = kadou("month", "amend")
    second = reports / "kadou-2026-10-evidence-v2.zip"
    assert "2026-10: amended, version 2" in out and f"wrote {second}" in out
    assert first.read_bytes() == original  # never overwritten
    # The pruned observations come from the first bundle, the late ones from the store.
    assert _rows(second) == OCTOBER_ROWS + 4
    verification = verify_bundle(second)
    assert verification.identical, verification.lines()
    assert verification.version == 2
    with zipfile.ZipFile(second) as archive:
        assert {"reports/v1.json", "reports/v2.json"} <= set(archive.namelist())

    # Nothing changed since: no new version, no new bundle; a later prune keeps both.
    assert kadou("month", "amend").strip() == "no closed month changed"
    kadou("db", "prune")
    assert {p.name for p in reports.glob("*evidence*")} == {first.name, second.name}
    assert verify_bundle(second).identical


def test_observations_in_the_pruned_stretch_are_refused(
    kadou: KadouCli,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The raw observations around them are gone: stored, they would relabel the pruned
    part of the timeline from what is left and erase the outage of 20 October."""
    kadou("month", "close", "2026-10")
    kadou("db", "prune")
    report = kadou("report", "--month", "2026-10", "--format", "json")
    before_cut = tmp_path / "before-cut.jsonl"
    late = {"check": "jpki/main/http", "location": "tokyo", "ok": True}
    before_cut.write_text(
        json.dumps({**late, "observed_at": "2026-10-25T03:00:00+09:00"})
        + "\n"
        + json.dumps({**late, "observed_at": "2026-10-20T09:59:30+09:00"})
        + "\n"
    )
    out = kadou("import", str(before_cut), expect=2)
    # 25 October is after the last success kept (10:59 on the 20th): it could be stored.
    assert "jpki/main/http from tokyo at 2026-10-20T00:59:30+00:00" in out
    assert "before 2026-10-20T01:59:00+00:00 were pruned (KADOU_OBSERVATION_RETENTION)" in out
    # Nothing of the file was stored: the month has nothing to amend.
    assert kadou("month", "amend").strip() == "no closed month changed"
    assert kadou("report", "--month", "2026-10", "--format", "json") == report
