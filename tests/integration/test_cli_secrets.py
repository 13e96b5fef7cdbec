"""No command prints a secret: catalog credentials, tokens, database passwords."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.serve import agent_token
from tests.support.cli import KadouCli

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("s3cr3t-pass", "abcdef123", "hdr-secret-value", "basic-pass-42")
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
            url: "URL"
            headers: {Authorization: "Bearer hdr-secret-value", X-Trace: visible}
            basic_auth: {username: ops, password: basic-pass-42}
            interval: 30s
            timeout: 10s
"""
URL = "http://monitor:s3cr3t-pass@127.0.0.1:8081/jpki?token=abcdef123&lang=ja"


def catalog_file(tmp_path: Path, url: str = URL) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.replace("URL", url), encoding="utf-8")
    return path


def test_catalog_check_hides_credentials(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    kadou = KadouCli(monkeypatch, sqlite_url)
    out = kadou("catalog", "check", str(catalog_file(tmp_path)))
    assert not [secret for secret in SECRETS if secret in out], out
    assert "GET http://monitor:***@127.0.0.1:8081/jpki?token=***&lang=ja" in out
    assert "basic auth as ops" in out and "Authorization: ***, X-Trace: visible" in out
    # An error quoting the bad value hides its password too.
    bad = catalog_file(tmp_path, URL.replace("http://", "ftp://"))
    out = kadou("catalog", "check", str(bad), expect=2)
    assert "url must be an absolute http://" in out and "ftp://monitor:***@127.0.0.1" in out
    assert not [secret for secret in SECRETS if secret in out], out


def test_database_password_is_not_shown(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    kadou = KadouCli(monkeypatch, "postgresql://kadou:db-pass-99@127.0.0.1:1/kadou")
    for args in (["db", "status"], ["db", "upgrade"], ["report"], ["token", "list"]):
        out = kadou(*args, expect=2)
        assert "cannot open the database" in out and "db-pass-99" not in out
        assert "Traceback" not in out


def test_the_agent_token_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KADOU_AGENT_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("kadou_fromfile\n", encoding="utf-8")
    assert agent_token(token_file, None) == "kadou_fromfile"
    monkeypatch.setenv("KADOU_AGENT_TOKEN", "kadou_fromenv")
    assert agent_token(None, None) == "kadou_fromenv"
    assert capsys.readouterr().err == ""
    assert agent_token(None, "kadou_typed") == "kadou_typed"
    warning = capsys.readouterr().err
    assert "--token is visible to other users of this machine" in warning
    assert "--token-file" in warning and "kadou_typed" not in warning


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token-file", "missing"], "--token-file missing: cannot read it"),
        (["--token-file", "empty"], "--token-file empty: the file is empty"),
        (["--token-file", "empty", "--token", "t"], "give --token-file or --token, not both"),
        ([], "--push needs the prober token: --token-file FILE or KADOU_AGENT_TOKEN"),
    ],
)
def test_probe_push_needs_a_readable_token(
    monkeypatch: pytest.MonkeyPatch,
    sqlite_url: str,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("KADOU_AGENT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    kadou = KadouCli(monkeypatch, sqlite_url)
    out = kadou("probe", "--push", "http://127.0.0.1:9/", *args, expect=2)
    assert message in out and len(out.strip().splitlines()) == 1


def test_probe_into_the_database_refuses_a_token(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    out = KadouCli(monkeypatch, sqlite_url)("probe", "--token", "t", expect=2)
    assert "--token and --token-file go with --push" in out


PROGRAM = """
import logging, sys
from app.catalog import load_catalog
from app.cli._common import catalog_secrets, configure_logging
configure_logging("INFO", secrets=catalog_secrets(load_catalog(sys.argv[1])))
log = logging.getLogger("probes.runner")
log.warning("probe %s failed", "http://monitor:s3cr3t-pass@127.0.0.1:8081/jpki?token=abcdef123")
logging.getLogger("aiohttp.client").warning("sent headers %s", {"Authorization": "Bearer hdr-secret-value"})
try:
    raise ConnectionError("basic-pass-42 was refused")
except ConnectionError:
    log.exception("probe failed")
"""


def test_log_lines_hide_secrets(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(catalog_file(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    log = result.stderr
    assert not [secret for secret in SECRETS if secret in log], log
    assert "probe http://monitor:***@127.0.0.1:8081/jpki?token=*** failed" in log
    assert "{'Authorization': '***'}" in log
    assert "ConnectionError: *** was refused" in log
