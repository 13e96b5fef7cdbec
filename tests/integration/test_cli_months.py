"""``kadou catalog history|show``, ``kadou month`` and ``kadou evidence`` from the shell."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.support.cli import KadouCli


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, sqlite_url)
    cli("db", "upgrade")
    return cli


def _import_october(kadou: KadouCli, tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "check": "jpki/main/http",
                "location": "tokyo",
                "observed_at": f"2026-10-20T10:{minute:02d}:00+09:00",
                "ok": minute not in (10, 11, 12),
            }
        )
        for minute in range(60)
    ]
    path = tmp_path / "october.jsonl"
    path.write_text("\n".join(lines) + "\n")
    kadou("import", str(path))


def test_the_catalog_is_recorded_once_and_shown_as_of_an_instant(kadou: KadouCli) -> None:
    kadou("report", "--month", "2026-10")
    kadou("report", "--month", "2026-10")
    history = kadou("catalog", "history").splitlines()
    assert len(history) == 2 and "<built-in>" in history[1]
    shown = kadou("catalog", "show")
    assert '"id": "jpki"' in shown
    too_early = kadou("catalog", "show", "--at", "2020-01-01T00:00+09:00", expect=2)
    assert too_early.startswith("kadou: --at 2020-01-01T00:00+09:00: no catalog version")
    assert kadou("catalog", "show", "--at", "yesterday", expect=2).count("\n") == 1


def test_close_list_and_evidence_round_trip(kadou: KadouCli, tmp_path: Path) -> None:
    _import_october(kadou, tmp_path)
    assert kadou("month", "list").strip() == "no closed month yet"
    assert kadou("month", "close", "2026-10").strip() == "2026-10: closed, version 1"
    assert kadou("month", "close", "2026-10").strip() == "2026-10: unchanged, nothing to do"
    assert kadou("month", "amend").strip() == "no closed month changed"
    assert "2026-10  closed" in kadou("month", "list")
    report = json.loads(kadou("report", "--month", "2026-10", "--format", "json"))
    assert report["version"] == 1 and report["closed_at"]
    assert [v["sha256"] for v in report["catalog_versions"]]
    bundle = tmp_path / "evidence-2026-10.zip"
    assert kadou("evidence", "--month", "2026-10", "--out", str(bundle)).startswith("wrote")
    assert kadou("evidence", "verify", str(bundle)).startswith("identical")
    # A tampered file: exit status 1, naming it.
    with zipfile.ZipFile(bundle) as original:
        files = {name: original.read(name) for name in original.namelist()}
    files["exclusions.json"] = b"[]\n "
    with zipfile.ZipFile(bundle, "w") as tampered:
        for name, body in files.items():
            tampered.writestr(name, body)
    assert "exclusions.json: SHA-256" in kadou("evidence", "verify", str(bundle), expect=1)


def test_bad_input_is_one_line_and_exit_2(kadou: KadouCli, tmp_path: Path) -> None:
    for args in (
        ("month", "close", "2026-13"),
        ("month", "close", "2999-01"),
        ("month", "amend", "2026-10"),
        ("evidence", "--month", "October"),
        ("evidence", "verify", str(tmp_path / "missing.zip")),
    ):
        output = kadou(*args, expect=2)
        assert output.startswith("kadou: ") and output.count("\n") == 1, output
    (tmp_path / "not.zip").write_text("hello")
    assert "cannot read the bundle" in kadou(
        "evidence", "verify", str(tmp_path / "not.zip"), expect=2
    )
