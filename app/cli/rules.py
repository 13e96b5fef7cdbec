"""``kadou rules``: Prometheus rules generated from the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.catalog import load_catalog
from app.cli._common import fail, guarded, write_output
from app.settings import get_settings

RULES_FILE_NAME = "kadou-rules.yml"


def rules(
    out: Annotated[
        str,
        typer.Option(
            help=f"File to write, or a folder to write {RULES_FILE_NAME} into; - (default): stdout"
        ),
    ] = "-",
    window_scale: Annotated[
        float, typer.Option(help="Shorten every burn-rate window by this factor (tests, demos)")
    ] = 1.0,
    runbook_url: Annotated[
        str | None, typer.Option(help="Where deploy/RUNBOOK.md is served, for runbook_url")
    ] = None,
) -> None:
    """Print (or write) Prometheus recording and burn-rate alert rules generated from the
    catalog."""
    from app.rules import DEFAULT_RUNBOOK_URL, render_rules_yaml

    if not 0 < window_scale <= 1:
        fail("--window-scale must be in (0, 1]: 1 for production, e.g. 0.0014 for a test")
    catalog = guarded(lambda: load_catalog(get_settings().catalog))
    text = render_rules_yaml(
        catalog, window_scale=window_scale, runbook_url=runbook_url or DEFAULT_RUNBOOK_URL
    )
    if out == "-":
        typer.echo(text, nl=False)
        return
    # Only the file is created: a missing folder is an error, never made on the way.
    target = Path(out)
    if target.is_dir():
        target = target / RULES_FILE_NAME
    write_output(target, text.encode("utf-8"))
    typer.echo(f"wrote {target}")
