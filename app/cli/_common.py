"""What every ``kadou`` command shares: opening the runtime, and turning bad input into one
line on stderr with exit status 2.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer

from app.catalog import CatalogError
from app.catalog.model import Catalog, HttpCheck
from app.errors import KadouError
from app.instants import parse_instant
from app.redact import SECRET_HEADERS, RedactingFilter, redact_text
from app.runtime import Runtime, open_runtime
from app.store.tokens import Actor, Role

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    # An error may quote what the user fed in: a catalog line with a URL's password, say.
    typer.echo(f"kadou: {redact_text(message)}", err=True)
    raise typer.Exit(2)


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; turn input errors, and a database that cannot be reached, into one
    line and exit status 2."""
    from pydantic import ValidationError
    from sqlalchemy.exc import InterfaceError, OperationalError

    try:
        return action()
    except ValidationError as error:
        # A setting read from the environment: name the variable to fix, not the class.
        first = error.errors()[0]
        name = "_".join(str(part) for part in first["loc"]).upper()
        fail(f"KADOU_{name}: {first['msg']}" if name else str(error).splitlines()[0])
    except (KadouError, CatalogError, ValueError) as error:
        fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
    except (OperationalError, InterfaceError) as error:
        unreachable(error)


def unreachable(error: Exception) -> NoReturn:
    cause = str(getattr(error, "orig", None) or error).splitlines()[0]
    fail(
        f"cannot open the database ({type(error).__name__}: {cause}); "
        "check KADOU_DATABASE_URL and that the database is running"
    )


def check_output_path(out: Path, option: str = "--out") -> None:
    """Refuse, before any work is done, a file whose folder is missing or is not a folder."""
    folder = out.parent
    if not folder.exists():
        fail(f"{option} {out}: the folder {folder} does not exist; create it or choose another")
    if not folder.is_dir():
        fail(f"{option} {out}: {folder} is not a folder")


def write_output(out: Path, body: bytes, option: str = "--out") -> None:
    """Write ``body`` to ``out`` whole or not at all.

    The bytes go to a temporary file beside it that is then renamed over ``out``, so a
    full disk or an interrupted command never leaves a truncated report where the last
    good one was.
    """
    check_output_path(out, option)
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_bytes(body)
        os.replace(partial, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        fail(f"{option} {out}: cannot write: {error.strerror or error}")


def runtime() -> Runtime:
    return guarded(open_runtime)


def schema_state(rt: Runtime) -> tuple[bool, str | None, str | None]:
    """``rt.schema_is_current()``, or one line and exit 2 when the database cannot be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return rt.schema_is_current()
    except SQLAlchemyError as error:
        unreachable(error)


def require_schema(rt: Runtime) -> None:
    current, found, head = schema_state(rt)
    if not current:
        fail(
            f"the database schema is at {found or 'nothing'}, Kadou needs {head}; "
            "run `kadou db upgrade` first"
        )
    record_running_catalog(rt)


def record_running_catalog(rt: Runtime) -> None:
    """Record the catalog this command runs with in the catalog history (SLA-SEMANTICS §8).

    Every command that opens the database runs with the catalog (serve, probe, import,
    report, ...); an identical catalog records nothing, so this costs one read.
    """
    from app.history import record_catalog

    guarded(lambda: record_catalog(rt.sessions, rt.catalog, cli_actor().name))


def cli_actor() -> Actor:
    # Whoever can run the CLI can open the database directly, so the CLI acts as admin;
    # the audit log still records which operating-system user it was.
    return Actor(name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def parse_time(text: str, field: str, zone: ZoneInfo) -> datetime:
    return guarded(lambda: parse_instant(text, field, zone))


# Loggers of Kadou's own code: "kadou.*" by name, "probes.*" and "app.*" by module.
KADOU_LOGGERS = ("kadou", "probes", "app")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(text: str, option: str) -> str:
    """A level name as ``logging`` knows it, or exit 2 naming the choices."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        fail(f"{option} {text!r}: choose one of {', '.join(LOG_LEVELS)}")
    return level


def catalog_secrets(catalog: Catalog) -> set[str]:
    """The credentials a catalog holds: basic-auth passwords and credential header values."""
    secrets: set[str] = set()
    for check in catalog.checks().values():
        if isinstance(check, HttpCheck):
            if check.basic_auth is not None:
                secrets.add(check.basic_auth.password)
            secrets.update(
                value for name, value in check.headers.items() if name.lower() in SECRET_HEADERS
            )
    return secrets


def configure_logging(
    level: str = "INFO", *, libraries: str = "WARNING", secrets: set[str] | None = None
) -> None:
    """Kadou's own loggers at ``level``; every other library at ``libraries``.

    Libraries log for their own developers: WeasyPrint and fontTools write several INFO
    lines per PDF page, httpx one per request. An operator reading Kadou's log wants Kadou's lines and the
    libraries' warnings, so the root logger stays at WARNING unless asked otherwise.
    """
    import logging

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(libraries)
    for name in KADOU_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # No log line may carry a secret. Root's handlers see every propagated record; uvicorn
    # logs through handlers of its own, made later, so its loggers get the filter instead.
    redacting = RedactingFilter(secrets or ())
    for handler in root.handlers:
        handler.addFilter(redacting)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(redacting)
