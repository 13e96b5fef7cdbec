"""``kadou token``: API tokens."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from app.cli._common import cli_actor, guarded, require_schema, runtime
from app.store.db import transaction

token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who uses it, e.g. grafana or agent-osaka")],
    role: Annotated[str, typer.Option(help="viewer, operator, admin or prober")],
) -> None:
    """Create an API token; it is printed once and only its hash is kept."""
    from app.store.tokens import create_token

    rt = runtime()
    require_schema(rt)

    def act() -> str:
        with transaction(rt.sessions) as session:
            _, secret = create_token(session, name=name, role=role, actor=cli_actor().name)
            return secret

    typer.echo(guarded(act))


@token_app.command("list")
def token_list() -> None:
    """List tokens (names, roles, prefixes; never the secrets)."""
    from app.store.tokens import list_tokens

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    with rt.sessions() as session:
        for row in list_tokens(session):
            state = "revoked" if row.revoked_at else "active"
            used = (
                row.last_used_at.astimezone(zone).isoformat(timespec="seconds")
                if row.last_used_at
                else "never"
            )
            typer.echo(f"{row.name:<24} {row.role:<9} {row.prefix}…  {state:<8} last used {used}")


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke a token by name."""
    from app.store.tokens import revoke_token

    rt = runtime()
    require_schema(rt)

    def act() -> str:
        with transaction(rt.sessions) as session:
            revoke_token(session, name, actor=cli_actor().name)
            return f"token {name} revoked"

    typer.echo(guarded(act))
