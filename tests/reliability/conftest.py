"""A live Kadou server (uvicorn in a thread) for tests that need real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from app.main import create_app
from app.runtime import Runtime
from tests.support.api import add_tokens, make_runtime, migrate
from tests.support.ports import free_port


@dataclass
class LiveServer:
    host: str
    port: int
    runtime: Runtime
    tokens: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def run_server(runtime: Runtime, clock: Any = None, **app_options: Any) -> Iterator[LiveServer]:
    app = create_app(
        runtime, now=clock, current_max_age_seconds=0, metrics_refresh_seconds=None, **app_options
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.02)
    try:
        yield LiveServer("127.0.0.1", port, runtime, {})
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        runtime.engine.dispose()


@pytest.fixture
def live_server(sqlite_url: str) -> Iterator[LiveServer]:
    """Kadou on SQLite with a 64 KiB body limit, so that "over the limit" is cheap to send."""
    migrate(sqlite_url)
    runtime = make_runtime(sqlite_url)
    runtime.settings.max_body_bytes = 64 * 1024
    tokens = add_tokens(runtime)
    for server in run_server(runtime):
        server.tokens = tokens
        yield server
