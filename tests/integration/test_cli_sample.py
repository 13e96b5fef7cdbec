"""``kadou sample``: a failure leaves neither a file nor windows behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import KadouCli

CATALOG = """\
systems:
  - id: x
    name: {ja: X, en: X}
    target: 0.999
    services:
      - id: main
        name: {ja: M, en: M}
        target: 0.999
        checks:
          - id: http
            type: http
            url: http://127.0.0.1:8081/x
            interval: 30s
            timeout: 10s
"""


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, sqlite_url)
    cli("db", "upgrade")
    return cli


def test_windows_the_catalog_cannot_take_stop_the_command_cleanly(
    kadou: KadouCli, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    kadou.catalog = str(catalog)
    out = kadou("sample", "--register-windows", "--out", str(tmp_path / "s.jsonl"), expect=2)
    assert out.strip() == "kadou: scope: unknown system 'info-network'; choose one of x"
    assert not [path for path in tmp_path.iterdir() if "jsonl" in path.name]


def test_the_sample_and_its_windows(kadou: KadouCli, tmp_path: Path) -> None:
    target = tmp_path / "s.jsonl"
    out = kadou("sample", "--month", "2026-10", "--register-windows", "--out", str(target))
    assert "wrote" in out and "registered planned window 1" in out
    assert json.loads(target.read_text(encoding="utf-8").splitlines()[0])["check"]
    out = kadou("sample", "--out", str(tmp_path / "no" / "s.jsonl"), expect=2)
    assert f"the folder {tmp_path / 'no'} does not exist" in out
