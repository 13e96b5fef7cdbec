"""Security headers on every response: the browser is told to run only Kadou's own files.

The pages need nothing else: no inline script or style (``kadou.js`` and ``kadou.css`` are
static files), charts are inline SVG drawn with attributes, forms post to this site. So the
Content-Security-Policy can be strict, and a page can never be framed (clickjacking on the
exclusion and sign-out forms). FastAPI's interactive API docs load their script from a CDN
and inline, so they get every header but the CSP.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
API_DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding the headers to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        added = list(SECURITY_HEADERS)
        if not path.startswith(API_DOCS_PATHS):
            added.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in added if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
