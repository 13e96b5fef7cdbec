"""Tokens and roles over HTTP: 401 with a Bearer challenge, 403 naming the role, public read,
and no secret of a check definition in any answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.store.db import transaction
from app.store.tokens import revoke_token
from tests.support.api import Api, open_api

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 10, 20, 12, 0, tzinfo=JST)
READS = [
    "/api/v1/systems",
    "/api/v1/systems/jpki",
    "/api/v1/availability?month=2026-10",
    "/api/v1/incidents",
    "/api/v1/exclusions",
    "/api/v1/audit",
    "/metrics",
]


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW)


@pytest.fixture
def public_api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW, public_read=True)


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_token_and_answer_401_with_a_bearer_challenge(api: Api, path: str) -> None:
    response = api.get(path, role=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and "kadou token create" in body["detail"]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_readers_read(api: Api, path: str, role: str) -> None:
    assert api.get(path, role=role).status_code == 200


def test_unknown_and_malformed_tokens_are_401_invalid_token(api: Api) -> None:
    response = api.client.get("/api/v1/systems", headers={"Authorization": "Bearer kadou_nope"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    response = api.client.get("/api/v1/systems", headers={"Authorization": "Basic dTpw"})
    assert response.status_code == 401
    assert "Bearer <token>" in response.json()["detail"]


def test_a_revoked_token_stops_working(api: Api) -> None:
    assert api.get("/api/v1/systems", role="viewer").status_code == 200
    with transaction(api.runtime.sessions) as session:
        revoke_token(session, "viewer-token", actor="test")
    assert api.get("/api/v1/systems", role="viewer").status_code == 401


def test_a_prober_only_posts_results(api: Api) -> None:
    response = api.get("/api/v1/systems", role="prober")
    assert response.status_code == 403
    assert "viewer, operator or admin role" in response.json()["detail"]
    assert "'prober-token'" in response.json()["detail"]
    body = {"observations": [], "heartbeat": None}
    assert api.post("/api/v1/results", body, role="prober").status_code == 200


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_posting_results_needs_prober_or_admin(api: Api, role: str) -> None:
    response = api.post("/api/v1/results", {"observations": []}, role=role)
    assert response.status_code == 403
    assert "prober or admin role" in response.json()["detail"]


def test_writes_without_a_token_are_401(api: Api) -> None:
    assert api.post("/api/v1/results", {"observations": []}, role=None).status_code == 401
    assert api.delete("/api/v1/exclusions/1?reason=x", role=None).status_code == 401


def test_public_read_opens_reads_but_not_writes(public_api: Api) -> None:
    for path in READS:
        assert public_api.get(path, role=None).status_code == 200, path
    # A token that is sent is still checked.
    bad = public_api.client.get("/api/v1/systems", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    response = public_api.post("/api/v1/results", {"observations": []}, role=None)
    assert response.status_code == 401


def test_tokens_record_when_they_were_last_used(api: Api) -> None:
    from sqlalchemy import select

    from app.store.models import ApiToken

    api.get("/api/v1/systems", role="viewer")
    with api.runtime.sessions() as session:
        used = session.execute(
            select(ApiToken.name, ApiToken.last_used_at).order_by(ApiToken.name)
        ).all()
    assert {name: at is not None for name, at in used} == {
        "admin-token": False,
        "operator-token": False,
        "prober-token": False,
        "viewer-token": True,
    }


SECRET_CATALOG = """
timezone: Asia/Tokyo
systems:
  - id: jpki
    name: {ja: JPKI, en: JPKI}
    target: 0.999
    services:
      - id: main
        name: {ja: 検証, en: Validation}
        target: 0.999
        checks:
          - id: http
            type: http
            interval: 30s
            timeout: 5s
            url: https://probe-user:url-pass-8812@jpki.example.test:8443/health?api_key=query-key-7731
            headers: {Authorization: "Bearer header-secret-5521", X-Api-Key: header-key-9043}
            basic_auth: {username: basic-user-3390, password: basic-pass-6602}
          - id: tls
            type: tls
            interval: 60s
            timeout: 5s
            host: jpki.example.test
"""
SECRETS = [
    "url-pass-8812",
    "probe-user",
    "query-key-7731",
    "header-secret-5521",
    "header-key-9043",
    "basic-user-3390",
    "basic-pass-6602",
]


def test_no_secret_of_a_check_appears_in_any_answer(sqlite_url: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(SECRET_CATALOG, encoding="utf-8")
    for api in open_api(sqlite_url, NOW, catalog=catalog):
        answers = [api.get(path, role="admin") for path in READS]
        answers.append(api.client.get("/openapi.json"))
        for response in answers:
            assert response.status_code == 200, response.text
            for secret in SECRETS:
                assert secret not in response.text, (response.url, secret)
        check = api.get("/api/v1/systems/jpki").json()["services"][0]["checks"][0]
        assert check["url"] == "https://jpki.example.test:8443/health"
        assert check["type"] == "http" and check["interval_seconds"] == 30
