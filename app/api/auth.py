"""Bearer tokens and roles as FastAPI dependencies.

viewer reads; prober only posts results; operator also manages planned windows; admin
does everything. Reads are open without a token only when ``KADOU_PUBLIC_READ=true``; a
token that is sent is always checked, so a revoked token fails even on a public server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from app.api.context import ApiContext, api_context
from app.api.problems import ApiProblem
from app.store.tokens import Actor, Role, authenticate_cached, recently_verified

# Anonymous reader on a public-read server; never able to write.
ANONYMOUS = Actor(name="anonymous", role=Role.VIEWER)

bearer = HTTPBearer(auto_error=False, description="An API token from `kadou token create`")


def _unauthorized(detail: str, *, invalid: bool) -> ApiProblem:
    challenge = 'Bearer realm="kadou"' + (', error="invalid_token"' if invalid else "")
    return ApiProblem(401, detail, title="Unauthorized", headers={"WWW-Authenticate": challenge})


def _token_actor(context: ApiContext, secret: str) -> Actor | None:
    runtime = context.runtime
    return authenticate_cached(
        runtime.sessions,
        secret,
        ttl_seconds=runtime.settings.token_cache_seconds,
        now=context.now(),
    )


NO_TOKEN = (
    "this needs a bearer token (Authorization: Bearer <token>); "
    "create one with `kadou token create`"
)
BAD_SCHEME = "the Authorization header must be `Bearer <token>`"
BAD_TOKEN = "the bearer token is unknown or revoked; create one with `kadou token create`"


def verify_token(context: ApiContext, authorization: str | None) -> ApiProblem | None:
    """The 401 for a request whose body is not read yet, or None when its token is valid.

    Every API request that carries a body needs a token (reads never carry one), so this
    runs before the body is read; the role is checked later, by the route.
    """
    if not authorization:
        return _unauthorized(NO_TOKEN, invalid=False)
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _unauthorized(BAD_SCHEME, invalid=True)
    if _token_actor(context, secret.strip()) is None:
        return _unauthorized(BAD_TOKEN, invalid=True)
    return None


async def current_actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Actor | None:
    """The token's actor; None when no token was sent. A bad token is always a 401.

    Async, so that a token found in the cache costs no trip through the thread pool; only
    a lookup in the database runs in a worker thread.
    """
    if credentials is None:
        if request.headers.get("authorization"):
            raise _unauthorized(BAD_SCHEME, invalid=True)
        return None
    context = api_context(request)
    secret = credentials.credentials
    actor = recently_verified(
        context.runtime.sessions, secret, ttl_seconds=context.runtime.settings.token_cache_seconds
    )
    if actor is None:
        actor = await run_in_threadpool(_token_actor, context, secret)
    if actor is None:
        raise _unauthorized(BAD_TOKEN, invalid=True)
    return actor


def _role_names(roles: tuple[Role, ...]) -> str:
    names = [role.value for role in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def require(*roles: Role, public_read: bool = False) -> Callable[..., Awaitable[Actor]]:
    """A dependency that admits the given roles (and anonymous readers when allowed)."""

    async def dependency(request: Request, actor: Actor | None = Depends(current_actor)) -> Actor:
        public = public_read and api_context(request).runtime.settings.public_read
        if actor is None:
            if public:
                return ANONYMOUS
            raise _unauthorized(NO_TOKEN, invalid=False)
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
