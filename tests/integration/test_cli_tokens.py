"""``kadou token``: a revoked token's name is free again, and its history stays."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from app.runtime import current_revision, downgrade, head_revision, upgrade
from app.store.db import make_engine, session_factory
from app.store.tokens import authenticate
from tests.support.cli import KadouCli


@pytest.fixture
def kadou(monkeypatch: pytest.MonkeyPatch, database_url: str) -> KadouCli:
    cli = KadouCli(monkeypatch, database_url)
    cli("db", "upgrade")
    return cli


def test_a_revoked_name_can_be_used_again(kadou: KadouCli) -> None:
    first = kadou("token", "create", "--name", "grafana", "--role", "viewer").strip()
    out = kadou("token", "create", "--name", "grafana", "--role", "viewer", expect=2)
    assert "a token named 'grafana' exists" in out
    assert "token grafana revoked" in kadou("token", "revoke", "grafana")
    second = kadou("token", "create", "--name", "grafana", "--role", "admin").strip()
    listed = [line.split() for line in kadou("token", "list").splitlines()]
    assert [(row[0], row[1], row[3]) for row in listed] == [
        ("grafana", "viewer", "revoked"),
        ("grafana", "admin", "active"),
    ]
    engine = make_engine(kadou.database_url)
    with session_factory(engine)() as session:
        assert authenticate(session, first, touch=False) is None
        actor = authenticate(session, second, touch=False)
        assert actor is not None and actor.role == "admin"
    engine.dispose()
    # Revoking by name reaches the active token; once none is active, it changes nothing.
    kadou("token", "revoke", "grafana")
    kadou("token", "revoke", "grafana")
    assert [line.split()[3] for line in kadou("token", "list").splitlines()] == [
        "revoked",
        "revoked",
    ]
    assert "no token named 'nope' (tokens: grafana, grafana)" in kadou(
        "token", "revoke", "nope", expect=2
    )


def test_the_name_migration_goes_down_and_up(kadou: KadouCli) -> None:
    kadou("token", "create", "--name", "agent-osaka", "--role", "prober")
    engine = make_engine(kadou.database_url)
    indexes = {index["name"] for index in inspect(engine).get_indexes("api_tokens")}
    assert "uq_api_tokens_active_name" in indexes
    downgrade(kadou.database_url, "0002")
    assert current_revision(engine) == "0002"
    uniques = {item["name"] for item in inspect(engine).get_unique_constraints("api_tokens")}
    assert "uq_api_tokens_name" in uniques
    upgrade(kadou.database_url)
    kadou("token", "revoke", "agent-osaka")
    kadou("token", "create", "--name", "agent-osaka", "--role", "prober")
    # Two tokens share a name now: going back to unique names would have to drop one.
    out = kadou("db", "downgrade", "0002", "--yes", expect=2)
    assert "more than one token is named agent-osaka" in out
    # PostgreSQL rolls the whole downgrade back; SQLite stops below the revisions it undid.
    reached = current_revision(engine)
    assert reached in (head_revision(kadou.database_url), "0003")
    assert f"the downgrade stopped; the database is at {reached}" in out
    engine.dispose()


def test_last_use_is_shown_in_the_reporting_time_zone(kadou: KadouCli) -> None:
    from datetime import UTC, datetime

    from app.store.db import transaction

    secret = kadou("token", "create", "--name", "grafana", "--role", "viewer").strip()
    engine = make_engine(kadou.database_url)
    with transaction(session_factory(engine)) as session:
        authenticate(session, secret, now=datetime(2026, 10, 31, 15, 30, 5, tzinfo=UTC))
    engine.dispose()
    assert "last used 2026-11-01T00:30:05+09:00" in kadou("token", "list")
