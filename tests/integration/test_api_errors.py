"""Problem bodies for every error, readiness, the refusal to serve an old schema, and
schemathesis against the app's own OpenAPI document."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import create_engine

from app.runtime import downgrade
from tests.support.api import Api, open_api

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=JST)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW)


def test_an_unexpected_error_is_a_500_problem_without_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    app = api.client.app
    assert isinstance(app, FastAPI)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: /etc/kadou/db-password")

    response = api.client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 500 and "server log" in body["detail"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert any("secret internals" in (r.exc_text or "") for r in caplog.records)


def test_validation_errors_name_each_field(api: Api) -> None:
    response = api.get("/api/v1/audit?limit=0&offset=-1&entity=people")
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:kadou:problem:invalid-input"
    assert {error["field"] for error in body["errors"]} == {"limit", "offset", "entity"}
    assert all(error["message"] for error in body["errors"])
    response = api.get("/api/v1/exclusions/abc")
    assert response.json()["errors"][0]["field"] == "exclusion_id"


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert "/docs" in response.json()["detail"]
    response = api.client.put("/api/v1/systems")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"


def test_health_ready_and_docs(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json()["status"] == "ready"
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/systems", "/api/v1/results", "/api/v1/exclusions/{exclusion_id}"} <= set(paths)


def test_readyz_is_503_with_the_reason_on_an_old_schema(sqlite_url: str) -> None:
    for api in open_api(sqlite_url, NOW):
        downgrade(sqlite_url, "base")
        response = api.client.get("/readyz")
        assert response.status_code == 503
        assert "kadou db upgrade" in response.json()["detail"]


def test_readyz_is_503_when_the_database_is_unreachable(sqlite_url: str) -> None:
    for api in open_api(sqlite_url, NOW):
        # Point the running app at a database server that is not there.
        api.runtime.__dict__["engine"] = create_engine(
            "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
        )
        response = api.client.get("/readyz")
        assert response.status_code == 503
        assert "unreachable" in response.json()["detail"]


def test_serve_refuses_an_out_of_date_schema_with_one_line(tmp_path: Path) -> None:
    env = {"KADOU_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db", "PATH": "/usr/bin:/bin"}
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.serve import serve; serve('127.0.0.1', 0, with_probes=False)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "kadou db upgrade" in lines[0], started.stderr


# --- schemathesis ---------------------------------------------------------------------


def test_no_500_and_no_schema_violation(api: Api) -> None:
    """Every operation with generated input: never a 500, every answer as documented."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = api.headers("admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case: Any) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        exercise()
