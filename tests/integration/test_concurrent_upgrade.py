"""Replicas that start together each migrate the database: on PostgreSQL they take turns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from app.runtime import current_revision, head_revision

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_replicas_upgrading_at_once_all_succeed(postgres_url: str) -> None:
    # Separate processes, as replicas are: Alembic's environment is process-global.
    environment = {
        **os.environ,
        "KADOU_DATABASE_URL": postgres_url,
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-c", "from app.cli import main; main()", "db", "upgrade"]
    replicas = [
        subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(3)
    ]
    outputs = [replica.communicate(timeout=120)[0].decode() for replica in replicas]
    assert [replica.returncode for replica in replicas] == [0, 0, 0], outputs
    engine = create_engine(postgres_url)
    try:
        assert current_revision(engine) == head_revision(postgres_url)
    finally:
        engine.dispose()
