"""``kadou catalog``: validate and show the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.catalog import catalog_summary, load_catalog
from app.cli._common import guarded
from app.settings import get_settings

catalog_app = typer.Typer(help="Validate and show the catalog.", no_args_is_help=True)


@catalog_app.command("check")
def catalog_check(
    file: Annotated[
        Path | None, typer.Argument(help="Catalog YAML; default: KADOU_CATALOG or the built-in one")
    ] = None,
) -> None:
    """Validate a catalog and print a summary."""
    path = file if file is not None else get_settings().catalog
    catalog = guarded(lambda: load_catalog(path))
    typer.echo(catalog_summary(catalog))
