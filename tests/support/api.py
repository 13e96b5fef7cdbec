"""A real Kadou app on a real database, with one token per role, for the API tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.catalog import load_catalog
from app.main import create_app
from app.runtime import Runtime, upgrade
from app.settings import Settings
from app.store.db import transaction
from app.store.tokens import create_token

ROLES = ("viewer", "prober", "operator", "admin")


@dataclass
class Clock:
    """A settable clock, so "the past" and "the future" of exclusion rules are fixed."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Api:
    client: TestClient
    runtime: Runtime
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str | None = "viewer", **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(role), **kwargs)

    def post(self, path: str, body: Any, role: str | None = "admin") -> Any:
        return self.client.post(path, json=body, headers=self.headers(role))

    def patch(self, path: str, body: Any, role: str | None = "admin") -> Any:
        return self.client.patch(path, json=body, headers=self.headers(role))

    def delete(self, path: str, role: str | None = "admin", **kwargs: Any) -> Any:
        return self.client.request("DELETE", path, headers=self.headers(role), **kwargs)


_MIGRATED_SQLITE: dict[str, Path] = {}


def migrate(url: str) -> None:
    """Bring the schema to head; SQLite files are copied from one migrated template."""
    if not url.startswith("sqlite:///"):
        upgrade(url)
        return
    if "template" not in _MIGRATED_SQLITE:
        template = Path(tempfile.mkdtemp(prefix="kadou-template-")) / "kadou.db"
        upgrade(f"sqlite:///{template}")
        _MIGRATED_SQLITE["template"] = template
    shutil.copyfile(_MIGRATED_SQLITE["template"], url.removeprefix("sqlite:///"))


def make_runtime(url: str, *, catalog: Path | None = None, public_read: bool = False) -> Runtime:
    settings = Settings(database_url=url, catalog=catalog, public_read=public_read)
    return Runtime(settings=settings, catalog=load_catalog(catalog))


def add_tokens(runtime: Runtime) -> dict[str, str]:
    tokens = {}
    with transaction(runtime.sessions) as session:
        for role in ROLES:
            _, secret = create_token(session, name=f"{role}-token", role=role, actor="test")
            tokens[role] = secret
    return tokens


def open_api(
    url: str,
    now: datetime,
    *,
    catalog: Path | None = None,
    public_read: bool = False,
    migrated: bool = True,
    **app_options: Any,
) -> Iterator[Api]:
    if migrated:
        migrate(url)
    runtime = make_runtime(url, catalog=catalog, public_read=public_read)
    clock = Clock(now)
    app = create_app(
        runtime,
        now=clock,
        current_max_age_seconds=0,
        metrics_refresh_seconds=None,
        **app_options,
    )
    tokens = add_tokens(runtime) if migrated else {}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, runtime, clock, tokens)
    runtime.engine.dispose()


def observation(
    check: str, at: datetime, ok: bool, *, location: str = "tokyo", detail: str | None = None
) -> dict[str, Any]:
    return {
        "check": check,
        "location": location,
        "observed_at": at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "ok": ok,
        "latency_ms": 12.5 if ok else None,
        "detail": detail if not ok else None,
    }


def series(
    check: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    down: Callable[[datetime], bool] = lambda _at: False,
    location: str = "tokyo",
) -> list[dict[str, Any]]:
    """One observation per ``step`` in [start, end); failing where ``down(at)``."""
    items = []
    at = start
    while at < end:
        failing = down(at)
        items.append(observation(check, at, not failing, location=location, detail="status 503"))
        at += step
    return items


def post_all(api: Api, items: list[dict[str, Any]], batch: int = 5000) -> None:
    for first in range(0, len(items), batch):
        response = api.post("/api/v1/results", {"observations": items[first : first + batch]})
        assert response.status_code == 200, response.text
