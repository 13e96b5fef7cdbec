"""``kadou evidence``: write a month's evidence bundle, and verify one (SLA-SEMANTICS §9)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from app.cli._common import check_output_path, fail, guarded, require_schema, runtime

evidence_app = typer.Typer(
    help="Evidence bundles: everything needed to recompute a month, with digests.",
    invoke_without_command=True,
)


@evidence_app.callback()
def evidence(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="YYYY-MM, e.g. 2026-10")] = None,
    out: Annotated[Path | None, typer.Option(help="The zip file to write")] = None,
    segments: Annotated[
        bool,
        typer.Option("--segments", help="Include check segments instead of raw observations"),
    ] = False,
) -> None:
    """Write the evidence bundle of a month: kadou evidence --month 2026-10 --out FILE.zip"""
    if ctx.invoked_subcommand is not None:
        return
    from app.evidence import write_bundle

    if month is None:
        fail("--month is required: kadou evidence --month 2026-10 --out evidence-2026-10.zip")
    target = out or Path(f"evidence-{month}.zip")
    check_output_path(target)
    rt = runtime()
    require_schema(rt)
    # Streamed to a file beside the target, then renamed: a month of a large catalog is
    # never whole in memory, and an interrupted run leaves no truncated bundle behind.
    partial = target.with_name(f".{target.name}.partial")
    try:
        with rt.sessions() as session, partial.open("wb") as stream:
            guarded(
                lambda: write_bundle(
                    stream, session, rt.catalog, month, rt.timezone, segments=segments
                )
            )
        os.replace(partial, target)
    except OSError as error:
        fail(f"--out {target}: cannot write: {error.strerror or error}")
    finally:
        partial.unlink(missing_ok=True)
    typer.echo(f"wrote {target} ({target.stat().st_size:,} bytes)")


@evidence_app.command("verify")
def evidence_verify(
    file: Annotated[Path, typer.Argument(help="An evidence bundle written by kadou evidence")],
) -> None:
    """Check the digests and recompute the month in a throw-away database from the bundle
    alone; prints "identical" (exit 0) or each figure that differs (exit 1)."""
    from app.evidence import verify_bundle

    if not file.is_file():
        fail(f"FILE {file}: no such file; give the path of an evidence bundle (.zip)")
    verification = guarded(lambda: verify_bundle(file))
    for line in verification.lines():
        typer.echo(line)
    if not verification.identical:
        raise typer.Exit(1)
