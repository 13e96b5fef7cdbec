"""Browser sessions: a signed cookie that names a token by its hash, and CSRF tokens.

Why a signed cookie and not a session table or an in-memory map: Kadou runs as several
API replicas in production, and a browser must stay signed in whichever replica answers
and across restarts, without a new table. The cookie holds ``{sid, token_sha256, issued}``
signed with HMAC-SHA256; the secret token itself never leaves the login form. Each request
looks the hash up again, so revoking the token (``kadou token revoke``) ends its browser
sessions at once; a session also ends after ``SESSION_MAX_AGE_SECONDS``.

A cookie cannot be taken back, so signing out must be recorded server side: the cookie also
carries the token's session generation at sign-in (``gen``), and signing out bumps the
token's generation in the database. That ends every browser session of the token at once,
on every replica, including copies of the cookie kept elsewhere.

The signing key comes from ``KADOU_SESSION_SECRET`` (the same value on every replica); when
it is unset, a random key per process is used, which is right for one embedded server but
signs everyone out on restart.

CSRF: every browser gets a session cookie (anonymous until sign-in) with a random ``sid``;
the form token is ``HMAC(key, "csrf:" + sid)``, put in a hidden field and compared on POST.
A cross-site page can neither read it nor (SameSite=Strict) send the cookie. Signing in
issues a new ``sid``, so a token seen before sign-in is worthless after it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response

COOKIE = "kadou_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600
SECRET_ENV = "KADOU_SESSION_SECRET"


@dataclass(frozen=True, slots=True)
class BrowserSession:
    sid: str
    token_sha256: str | None
    issued_at: int
    generation: int = 0

    @property
    def signed_in(self) -> bool:
        return self.token_sha256 is not None


class SessionSigner:
    def __init__(self, secret: str | bytes | None = None) -> None:
        configured = secret if secret is not None else os.environ.get(SECRET_ENV)
        if configured is None or configured == "":
            self._key = secrets.token_bytes(32)
        else:
            raw = configured.encode() if isinstance(configured, str) else configured
            # Derive the key so a short passphrase and a long random value are used alike.
            self._key = hashlib.sha256(b"kadou-session\0" + raw).digest()

    def _mac(self, message: bytes) -> str:
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, session: BrowserSession) -> str:
        payload = json.dumps(
            {
                "sid": session.sid,
                "tok": session.token_sha256,
                "iat": session.issued_at,
                "gen": session.generation,
            },
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{body}.{self._mac(body.encode())}"

    def decode(self, value: str | None, *, now: float | None = None) -> BrowserSession | None:
        """The session in a cookie, or None if it is missing, forged or expired."""
        if not value or "." not in value:
            return None
        body, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body.encode())):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = BrowserSession(
                str(fields["sid"]), fields["tok"], int(fields["iat"]), int(fields.get("gen", 0))
            )
        except (ValueError, KeyError, TypeError):
            return None
        current = time.time() if now is None else now
        if session.signed_in and current - session.issued_at > SESSION_MAX_AGE_SECONDS:
            return None
        return session

    def csrf_token(self, session: BrowserSession) -> str:
        return self._mac(b"csrf:" + session.sid.encode())

    def check_csrf(self, session: BrowserSession | None, submitted: str | None) -> bool:
        if session is None or not submitted:
            return False
        return hmac.compare_digest(self.csrf_token(session), submitted)


def new_session(token_sha256: str | None = None, generation: int = 0) -> BrowserSession:
    return BrowserSession(secrets.token_urlsafe(18), token_sha256, int(time.time()), generation)


def set_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
    )
