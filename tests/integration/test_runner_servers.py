"""Small real HTTP servers on loopback for the runner and sink tests (no tests in here).

A probe target (``/ok`` answers 200, ``/hang`` never answers) and a results receiver that
plays the remote Kadou's ``POST /api/v1/results``: it checks the bearer token, dedupes on
``(check, location, observed_at)`` as the server does, and can be told to answer 503 or
422, or be stopped and restarted on the same port.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.support.ports import free_port

Handler = Callable[[str, str, dict[str, str], bytes], Awaitable[tuple[int, bytes] | None]]

REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    422: "Unprocessable",
    500: "Internal Server Error",
    503: "Busy",
}


class TinyHttpServer:
    """HTTP/1.1 with keep-alive and Content-Length bodies: enough for httpx, nothing more."""

    def __init__(self, handler: Handler, port: int | None = None) -> None:
        self.handler = handler
        self.port = port if port is not None else free_port()
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True, backlog=1024
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in header_lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                answer = await self.handler(method, target, headers, body)
                if answer is None:  # hang: never answer, until the client gives up
                    await reader.read()
                    return
                status, payload = answer
                writer.write(
                    f"HTTP/1.1 {status} {REASONS.get(status, 'X')}\r\n"
                    f"Content-Length: {len(payload)}\r\nContent-Type: application/json\r\n"
                    "\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()


async def probe_target(
    method: str, target: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes] | None:
    if target.startswith("/hang"):
        return None
    return 200, b'{"status":"ok"}'


@dataclass
class ResultsReceiver:
    """The remote Kadou's results endpoint, deduping as the real one does."""

    token: str = "agent-token"
    # "accept", "busy" (503), "reject-check:<key>" (422 for batches holding that check) or
    # "crash-check:<key>" (500 for batches holding that check, as a server bug would).
    mode: str = "accept"
    stored: dict[tuple[str, str, str], dict[str, object]] = field(default_factory=dict)
    # Keys in the order they were first stored.
    arrival_order: list[tuple[str, str, str]] = field(default_factory=list)
    duplicates: int = 0
    heartbeats: list[dict[str, object]] = field(default_factory=list)
    refused_posts: int = 0
    server: TinyHttpServer | None = None

    async def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        if method != "POST" or target != "/api/v1/results":
            return 404, b"{}"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, b'{"title": "bad token"}'
        if self.mode == "busy":
            self.refused_posts += 1
            return 503, b'{"title": "database unavailable"}'
        document = json.loads(body)
        observations = document["observations"]
        if self.mode.startswith("reject-check:"):
            bad_check = self.mode.split(":", 1)[1]
            if any(item["check"] == bad_check for item in observations):
                self.refused_posts += 1
                problem = {"title": "unknown check", "detail": f"no check {bad_check} here"}
                return 422, json.dumps(problem).encode()
        if self.mode.startswith("crash-check:"):
            bad_check = self.mode.split(":", 1)[1]
            if any(item["check"] == bad_check for item in observations):
                self.refused_posts += 1
                return 500, b'{"title": "Internal Server Error"}'
        for item in observations:
            key = (item["check"], item["location"], item["observed_at"])
            if key in self.stored:
                self.duplicates += 1
                continue
            self.stored[key] = item
            self.arrival_order.append(key)
        if document.get("heartbeat") is not None:
            self.heartbeats.append(document["heartbeat"])
        return 200, b'{"stored": true}'

    async def start(self, port: int | None = None) -> TinyHttpServer:
        self.server = TinyHttpServer(self.handle, port)
        await self.server.start()
        return self.server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
