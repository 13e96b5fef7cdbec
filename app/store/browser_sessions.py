"""What a signed-in browser session needs from the store: the token's session generation.

A browser cookie names its token by hash and carries the token's ``session_generation`` at
sign-in. Signing out bumps the generation, which ends every browser session of that token
at once (on every replica, since they share the database); revoking the token ends them too.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.store.models import ApiToken
from app.store.tokens import Actor, Role


def session_generation(session: Session, token_sha256: str) -> int | None:
    """The current generation of a live token, or None if it is unknown or revoked."""
    row = session.execute(
        select(ApiToken.session_generation, ApiToken.revoked_at).where(
            ApiToken.token_sha256 == token_sha256
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return int(row.session_generation)


def session_actor(session: Session, token_sha256: str, generation: int) -> Actor | None:
    """The actor of a browser session, unless its token is revoked or it was signed out."""
    row = session.execute(
        select(
            ApiToken.name, ApiToken.role, ApiToken.revoked_at, ApiToken.session_generation
        ).where(ApiToken.token_sha256 == token_sha256)
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.session_generation != generation:
        return None
    return Actor(name=row.name, role=Role(row.role))


def end_sessions(session: Session, token_sha256: str) -> None:
    """End every browser session signed in with this token (sign-out)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.token_sha256 == token_sha256)
        .values(session_generation=ApiToken.session_generation + 1)
    )
