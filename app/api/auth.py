"""Bearer tokens and roles as FastAPI dependencies.

viewer reads; prober only posts results; operator also manages planned windows; admin
does everything. Reads are open without a token only when ``KADOU_PUBLIC_READ=true``; a
token that is sent is always checked, so a revoked token fails even on a public server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, select, update

from app.api.context import ApiContext, api_context
from app.api.problems import ApiProblem
from app.store.models import ApiToken
from app.store.tokens import Actor, Role, hash_token

# Anonymous reader on a public-read server; never able to write.
ANONYMOUS = Actor(name="anonymous", role=Role.VIEWER)
# last_used_at is a hint for `kadou token list`, not an access log: writing it on every
# request would turn each read into a database write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

bearer = HTTPBearer(auto_error=False, description="An API token from `kadou token create`")


def _unauthorized(detail: str, *, invalid: bool) -> ApiProblem:
    challenge = 'Bearer realm="kadou"' + (', error="invalid_token"' if invalid else "")
    return ApiProblem(401, detail, title="Unauthorized", headers={"WWW-Authenticate": challenge})


def _token_actor(context: ApiContext, secret: str) -> Actor | None:
    digest = hash_token(secret)
    with context.runtime.sessions() as session:
        row = session.execute(
            select(ApiToken.name, ApiToken.role, ApiToken.revoked_at, ApiToken.last_used_at).where(
                ApiToken.token_sha256 == digest
            )
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        actor = Actor(name=row.name, role=Role(row.role))
        now = context.now()
        if row.last_used_at is not None and row.last_used_at >= now - LAST_USED_RESOLUTION:
            # A read stays a read: on SQLite even an UPDATE that matches nothing takes the
            # write lock, which serialised every authenticated request.
            return actor
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.token_sha256 == digest,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at < now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
        )
        session.commit()
        return actor


def current_actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Actor | None:
    """The token's actor; None when no token was sent. A bad token is always a 401."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthorized("the Authorization header must be `Bearer <token>`", invalid=True)
        return None
    actor = _token_actor(api_context(request), credentials.credentials)
    if actor is None:
        raise _unauthorized(
            "the bearer token is unknown or revoked; create one with `kadou token create`",
            invalid=True,
        )
    return actor


def _role_names(roles: tuple[Role, ...]) -> str:
    names = [role.value for role in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def require(*roles: Role, public_read: bool = False) -> Callable[..., Actor]:
    """A dependency that admits the given roles (and anonymous readers when allowed)."""

    def dependency(request: Request, actor: Actor | None = Depends(current_actor)) -> Actor:
        public = public_read and api_context(request).runtime.settings.public_read
        if actor is None:
            if public:
                return ANONYMOUS
            raise _unauthorized(
                "this needs a bearer token (Authorization: Bearer <token>); "
                "create one with `kadou token create`",
                invalid=False,
            )
        if actor.role in roles or public:
            return actor
        raise ApiProblem(
            403,
            f"this needs the {_role_names(roles)} role; the token {actor.name!r} has the "
            f"{actor.role.value} role",
            title="Forbidden",
        )

    return dependency


reader = require(Role.VIEWER, Role.OPERATOR, Role.ADMIN, public_read=True)
prober = require(Role.PROBER, Role.ADMIN)
operator = require(Role.OPERATOR, Role.ADMIN)
admin = require(Role.ADMIN)
