"""``kadou rules``: Prometheus rules generated from the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.catalog import load_catalog
from app.cli._common import fail, guarded
from app.settings import get_settings


def rules(
    out: Annotated[Path, typer.Option(help="Rules file to write")] = Path(
        "deploy/prometheus/kadou-rules.yml"
    ),
    window_scale: Annotated[
        float, typer.Option(help="Shorten every burn-rate window by this factor (tests, demos)")
    ] = 1.0,
    runbook_url: Annotated[
        str | None, typer.Option(help="Where deploy/RUNBOOK.md is served, for runbook_url")
    ] = None,
) -> None:
    """Write Prometheus recording and burn-rate alert rules generated from the catalog."""
    from app.rules import DEFAULT_RUNBOOK_URL, render_rules_yaml

    if not 0 < window_scale <= 1:
        fail("--window-scale must be in (0, 1]: 1 for production, e.g. 0.0014 for a test")
    catalog = guarded(lambda: load_catalog(get_settings().catalog))
    text = render_rules_yaml(
        catalog, window_scale=window_scale, runbook_url=runbook_url or DEFAULT_RUNBOOK_URL
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
