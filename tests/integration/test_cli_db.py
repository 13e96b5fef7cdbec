"""``kadou db``: a wrong revision is one line, and a downgrade says what it drops and asks."""

from __future__ import annotations

import json

import pytest
from alembic.script import ScriptDirectory

from app.runtime import migrations_directory
from tests.support.cli import KadouCli

# The revisions of this checkout, newest first: the tests follow the history as it grows.
REVISIONS = [
    script.revision for script in ScriptDirectory(str(migrations_directory())).walk_revisions()
]
LATEST = REVISIONS[0]


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, database_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, database_url)
    cli("db", "upgrade")
    return cli


def observations(count: int) -> str:
    return "\n".join(
        json.dumps(
            {
                "check": "jpki/main/http",
                "location": "tokyo",
                "observed_at": f"2026-10-01T00:{minute:02d}:00+09:00",
                "ok": True,
            }
        )
        for minute in range(count)
    )


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_an_unknown_revision_names_the_revisions(kadou: KadouCli, command: str) -> None:
    out = kadou("db", command, "zzz", expect=2)
    assert out.startswith(f"kadou: unknown revision 'zzz'; choose one of {', '.join(REVISIONS)}")
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out


def test_a_downgrade_to_base_says_what_is_lost_and_asks(kadou: KadouCli) -> None:
    kadou("import", "-", input=observations(3))
    for answer in ("n\n", ""):  # "no", then no answer at all (standard input closed)
        out = kadou("db", "downgrade", "base", input=answer, expect=2)
        assert f"undoes {LATEST} " in out and "0001 (initial schema)" in out
        assert "drops every Kadou table and ALL its data" in out and "observations 3" in out
        assert "downgrade cancelled; nothing was changed" in out
    assert f"schema: {LATEST} (latest {LATEST})" in kadou("db", "status")
    assert "observations 3" in kadou("db", "downgrade", "base", input="y\n")
    assert "schema: empty" in kadou("db", "status")
    assert "nothing to downgrade" in kadou("db", "downgrade", "base", "--yes", expect=2)


def test_yes_downgrades_without_asking(kadou: KadouCli) -> None:
    out = kadou("db", "downgrade", "--yes", "--", "-1")
    assert "Continue?" not in out and "database at -1" in out
    assert f"schema: {REVISIONS[1]} (latest {LATEST})" in kadou("db", "status")
    assert "already at" not in kadou("db", "upgrade")
    kadou("db", "downgrade", "--yes", "0001")
    assert "database already at 0001" in kadou("db", "downgrade", "0001")
