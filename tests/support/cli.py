"""Running the real ``kadou`` command in-process, with its own environment."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from app.cli import app


@dataclass
class KadouCli:
    monkeypatch: pytest.MonkeyPatch
    database_url: str
    catalog: str | None = None

    def __call__(self, *args: str, input: str | None = None, expect: int = 0) -> str:
        self.monkeypatch.setenv("KADOU_DATABASE_URL", self.database_url)
        if self.catalog:
            self.monkeypatch.setenv("KADOU_CATALOG", self.catalog)
        else:
            self.monkeypatch.delenv("KADOU_CATALOG", raising=False)
        result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
        output = result.stdout + (result.stderr or "")
        assert result.exit_code == expect, f"kadou {' '.join(args)} -> {result.exit_code}\n{output}"
        return output
