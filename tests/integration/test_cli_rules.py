"""``kadou rules``: standard output by default; a file or a folder only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.catalog import load_catalog
from app.rules import render_rules_yaml
from tests.support.cli import KadouCli


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path) -> KadouCli:
    # Run in an empty folder, to see that nothing appears there unasked.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return KadouCli(monkeypatch, sqlite_url)


def test_rules_go_to_standard_output_by_default(kadou: KadouCli) -> None:
    expected = render_rules_yaml(load_catalog(None))
    assert kadou("rules") == expected
    assert kadou("rules", "--out", "-") == expected
    assert yaml.safe_load(expected)["groups"]
    assert list(Path.cwd().iterdir()) == []


def test_rules_into_a_file_or_a_folder(kadou: KadouCli, tmp_path: Path) -> None:
    expected = render_rules_yaml(load_catalog(None))
    assert "wrote rules.yml" in kadou("rules", "--out", "rules.yml")
    assert Path("rules.yml").read_text(encoding="utf-8") == expected
    kadou("rules", "--out", str(tmp_path))
    assert (tmp_path / "kadou-rules.yml").read_text(encoding="utf-8") == expected
    out = kadou("rules", "--out", "deploy/prometheus/kadou-rules.yml", expect=2)
    assert "the folder deploy/prometheus does not exist" in out
    assert sorted(path.name for path in Path.cwd().iterdir()) == ["rules.yml"]
