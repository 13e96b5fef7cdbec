"""What is decided before a request body is read: its size, the token, the database.

A client without a valid token must not make Kadou read, let alone decode, a large body:
the size is refused from ``Content-Length`` alone (413) and, on the API, a missing or
invalid token is refused (401) before the first byte of the body is read. A body without
a declared length (chunked) is read up to the limit and refused as soon as it passes it.
Whatever is refused this way closes the connection, so that the unread rest of the body is
not read either. While the database is known to be unavailable, API requests are answered
503 at once instead of each waiting for its own timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import verify_token
from app.api.context import ApiContext
from app.api.problems import problem
from app.store.monitor import RETRY_AFTER_SECONDS, describe, is_unavailable

log = logging.getLogger("kadou.api")

API_PATHS = "/api/"


def too_large(limit: int) -> Response:
    return problem(
        413,
        f"the request body is larger than {limit:,} bytes (KADOU_MAX_BODY_BYTES); "
        "send smaller batches",
        title="Content too large",
        headers={"Connection": "close"},
    )


def database_unavailable(*, close: bool = False) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if close:
        headers["Connection"] = "close"
    return problem(
        503,
        "the database is unavailable; retry later (the server log says why)",
        title="Service unavailable",
        headers=headers,
    )


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None if absent) and whether the body is chunked."""
    length: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


class RequestGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = scope["app"].state.kadou
        assert isinstance(context, ApiContext)
        api = str(scope["path"]).startswith(API_PATHS)
        length, chunked = _framing(scope)
        has_body = chunked or bool(length)
        if api and context.database.unavailable:
            await database_unavailable(close=has_body)(scope, receive, send)
            return
        if not has_body:
            await self.app(scope, receive, send)
            return
        limit = context.runtime.settings.max_body_bytes
        if length is not None and length > limit:
            await too_large(limit)(scope, receive, send)
            return
        if api:
            refusal = await self._refuse_token(context, Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse_token(self, context: ApiContext, request: Request) -> Response | None:
        try:
            refusal = await run_in_threadpool(
                verify_token, context, request.headers.get("authorization")
            )
        except Exception as error:
            if not is_unavailable(error):
                raise
            context.database.suspect()
            log.debug("token check failed on the database: %s", describe(error))
            return database_unavailable(close=True)
        if refusal is None:
            return None
        return problem(
            refusal.status,
            refusal.detail,
            title=refusal.title,
            headers={**(refusal.headers or {}), "Connection": "close"},
        )


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_last_logged = 0.0


async def on_database_error(request: Request, error: Exception) -> Response:
    """A request failed on the database: 503 + Retry-After when it is out of reach."""
    global _last_logged
    if not is_unavailable(error):
        raise error
    context = request.app.state.kadou
    assert isinstance(context, ApiContext)
    if not context.database.unavailable:
        # The monitor logs the outage itself; until it has seen it, at most one line per
        # ten seconds here (a busy SQLite, a statement over its timeout).
        now = time.monotonic()
        if now - _last_logged > 10:
            _last_logged = now
            log.warning(
                "database error on %s %s: %s", request.method, request.url.path, describe(error)
            )
    context.database.suspect()
    return database_unavailable()
