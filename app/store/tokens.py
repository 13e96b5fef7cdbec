"""API tokens: a random secret shown once, kept as its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, InvalidInput, NotFound
from app.store import audit
from app.store.models import ApiToken

TOKEN_PREFIX = "kadou_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Role(StrEnum):
    VIEWER = "viewer"
    PROBER = "prober"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever performs an action: a token's name and role, or the local CLI user."""

    name: str
    role: Role

    def can_read(self) -> bool:
        return self.role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)

    def can_manage_planned(self) -> bool:
        return self.role in (Role.OPERATOR, Role.ADMIN)

    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, name: str, role: str, actor: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret, which is never stored."""
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}",
            field="role",
        ) from None
    if not name.strip():
        raise InvalidInput("a token needs a name that says who uses it", field="name")
    if _active(session, name) is not None:
        raise Conflict(
            f"a token named {name!r} exists; choose another name or revoke it", field="name"
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        role=parsed_role.value,
        token_sha256=hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity="token",
        entity_id=str(row.id),
        before=None,
        after={"name": name, "role": parsed_role.value},
        reason=None,
    )
    return row, secret


def actor_for_digest(
    session: Session, token_sha256: str, *, touch: bool = False, now: datetime | None = None
) -> Actor | None:
    """The actor of the token with this SHA-256, unless it is unknown or revoked.

    With ``touch``, ``last_used_at`` is updated, but at most once per
    ``LAST_USED_RESOLUTION``: it is a hint for `kadou token list`, not an access log, and
    writing it on every request would turn each read into a write (on SQLite, one that
    takes the database's write lock).
    """
    row = session.execute(
        select(ApiToken).where(ApiToken.token_sha256 == token_sha256)
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if touch:
        now = now or datetime.now(UTC)
        if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION:
            row.last_used_at = now
    return Actor(name=row.name, role=Role(row.role))


def authenticate(
    session: Session, secret: str, *, touch: bool = True, now: datetime | None = None
) -> Actor | None:
    return actor_for_digest(session, hash_token(secret), touch=touch, now=now)


class VerifiedTokens:
    """Tokens verified in the last few seconds, so that a read costs no database round trip.

    Only successful verifications are kept (a token created elsewhere works at once). A
    revocation in this process empties the cache at once (``forget_all``); other processes
    notice within the time to live. Entries are keyed by the session factory as well, so two
    databases served by one process never share an entry.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, str], tuple[float, Actor]] = {}
        # Bumped by every revocation: a verification that started before it must not
        # put back what the revocation removed.
        self.generation = 0

    def get(self, factory: object, digest: str, ttl_seconds: float) -> Actor | None:
        entry = self._entries.get((id(factory), digest))
        if entry is None or self._clock() - entry[0] >= ttl_seconds:
            return None
        return entry[1]

    def put(self, factory: object, digest: str, actor: Actor, generation: int) -> None:
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= 10_000:  # bounded: stale entries are dropped wholesale
                self._entries.clear()
            self._entries[(id(factory), digest)] = (self._clock(), actor)

    def forget_all(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


VERIFIED_TOKENS = VerifiedTokens()


def recently_verified(
    factory: sessionmaker[Session], secret: str, *, ttl_seconds: float
) -> Actor | None:
    """The actor of ``secret`` if it was verified within ``ttl_seconds``; never a query."""
    if ttl_seconds <= 0:
        return None
    return VERIFIED_TOKENS.get(factory, hash_token(secret), ttl_seconds)


def authenticate_cached(
    factory: sessionmaker[Session],
    secret: str,
    *,
    ttl_seconds: float,
    now: datetime | None = None,
) -> Actor | None:
    """``authenticate`` through ``VERIFIED_TOKENS``: a database query at most once per TTL."""
    digest = hash_token(secret)
    if ttl_seconds > 0:
        cached = VERIFIED_TOKENS.get(factory, digest, ttl_seconds)
        if cached is not None:
            return cached
    generation = VERIFIED_TOKENS.generation
    with factory() as session:
        actor = actor_for_digest(session, digest, touch=True, now=now)
        session.commit()  # writes only when last_used_at was due an update
    if actor is not None and ttl_seconds > 0:
        VERIFIED_TOKENS.put(factory, digest, actor, generation)
    return actor


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.execute(select(ApiToken).order_by(ApiToken.id)).scalars())


def _active(session: Session, name: str) -> ApiToken | None:
    return session.execute(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()


def _forget_verified(_session: Session) -> None:
    VERIFIED_TOKENS.forget_all()


def revoke_token(session: Session, name: str, *, actor: str) -> ApiToken:
    """Revoke the active token called ``name``; revoking it again changes nothing."""
    row = (
        _active(session, name)
        or session.execute(
            select(ApiToken).where(ApiToken.name == name).order_by(ApiToken.id.desc()).limit(1)
        ).scalar_one_or_none()
    )
    if row is None:
        known = ", ".join(t.name for t in list_tokens(session)) or "none"
        raise NotFound(f"no token named {name!r} (tokens: {known})", field="name")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        # Forget verified tokens now, and again once the revocation is committed: a
        # verification running in between could otherwise cache the token afresh.
        VERIFIED_TOKENS.forget_all()
        event.listen(session, "after_commit", _forget_verified, once=True)
        audit.record(
            session,
            actor=actor,
            action="revoke",
            entity="token",
            entity_id=str(row.id),
            before={"name": row.name, "role": row.role},
            after=None,
            reason=None,
        )
    return row
