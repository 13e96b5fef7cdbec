"""Verified tokens are cached for a few seconds: a revocation in this process takes effect
at once, one made elsewhere (straight in the database) within the cache's time to live."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.store.db import transaction
from app.store.models import ApiToken
from app.store.tokens import Actor, Role, VerifiedTokens, revoke_token
from tests.support.api import Api, open_api

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from open_api(sqlite_url, NOW)


def revoke_elsewhere(api: Api, name: str) -> None:
    """What another Kadou process's revocation looks like from here: only the row changes."""
    with transaction(api.runtime.sessions) as session:
        session.execute(
            update(ApiToken).where(ApiToken.name == name).values(revoked_at=datetime.now(UTC))
        )


def test_a_revocation_here_takes_effect_at_once(api: Api) -> None:
    assert api.get("/api/v1/systems", "viewer").status_code == 200  # now cached
    with transaction(api.runtime.sessions) as session:
        revoke_token(session, "viewer-token", actor="test")
    assert api.get("/api/v1/systems", "viewer").status_code == 401
    assert api.get("/api/v1/systems", "operator").status_code == 200


def test_a_revocation_elsewhere_is_seen_once_the_cache_expires(api: Api) -> None:
    assert api.get("/api/v1/systems", "viewer").status_code == 200
    revoke_elsewhere(api, "viewer-token")
    # Still trusted from the cache: this read asked no database.
    assert api.get("/api/v1/systems", "viewer").status_code == 200
    api.runtime.settings.token_cache_seconds = 0  # as if the time to live had passed
    assert api.get("/api/v1/systems", "viewer").status_code == 401


def test_entries_expire_and_a_revocation_forgets_even_a_verification_in_flight() -> None:
    now = [100.0]
    cache = VerifiedTokens(clock=lambda: now[0])
    factory = object()
    actor = Actor(name="viewer-token", role=Role.VIEWER)
    cache.put(factory, "digest", actor, cache.generation)
    assert cache.get(factory, "digest", ttl_seconds=5) == actor
    assert cache.get(object(), "digest", ttl_seconds=5) is None  # another database
    now[0] += 5
    assert cache.get(factory, "digest", ttl_seconds=5) is None
    started = cache.generation  # a verification reads the row here...
    cache.forget_all()  # ...a revocation commits...
    cache.put(factory, "digest", actor, started)  # ...and the stale answer is not kept
    assert cache.get(factory, "digest", ttl_seconds=5) is None
