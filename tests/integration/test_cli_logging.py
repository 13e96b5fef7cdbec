"""The long-running commands log Kadou's lines; libraries only warn, unless asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import KadouCli

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("weasyprint", "fontTools")

# A fresh process, as `kadou serve` is: its logging is configured once, by Kadou, and
# then a PDF is rendered (WeasyPrint and fontTools log several INFO lines per page).
PROGRAM = """
import logging, sys
from app.cli._common import configure_logging
configure_logging(*sys.argv[1:2], **dict(arg.split("=") for arg in sys.argv[2:]))
from weasyprint import HTML
assert HTML(string="<h1>稼働実績</h1><p>99.93%</p>").write_pdf().startswith(b"%PDF")
logging.getLogger("kadou.reports").info("wrote the October reports")
logging.getLogger("probes.runner").warning("a check is late")
"""


def log_of(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def library_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if any(f" {name}" in line for name in LIBRARIES)]


def test_libraries_only_warn_by_default() -> None:
    lines = log_of("INFO")
    assert library_lines(lines) == []
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO kadou.reports: wrote the October reports",
        "WARNING probes.runner: a check is late",
    ]


def test_library_lines_when_asked() -> None:
    lines = log_of("WARNING", "libraries=INFO")
    assert any(" INFO weasyprint" in line for line in library_lines(lines)), lines
    assert not [line for line in lines if "kadou.reports" in line]
    assert [line for line in lines if "probes.runner" in line]


@pytest.mark.parametrize("command", ["serve", "probe", "simulate"])
def test_an_unknown_level_is_refused(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, command: str
) -> None:
    cli = KadouCli(monkeypatch, sqlite_url)
    out = cli(command, "--log-level", "loud", expect=2)
    assert "--log-level 'loud': choose one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in out
    out = cli(command, "--library-log-level", "chatty", expect=2)
    assert "--library-log-level 'chatty': choose one of" in out
