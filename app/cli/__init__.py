"""The ``kadou`` command line.

Errors in what the user typed or fed in print one line naming the field and the fix, and
exit with status 2; nothing is written when a command fails.

Each command group lives in its own module; this one builds the Typer app and registers
them. Registration order is the order ``kadou --help`` lists the commands in.
"""

from __future__ import annotations

import typer

from app.cli.catalog import catalog_app
from app.cli.db import db_app
from app.cli.evidence import evidence_app
from app.cli.exclusions import exclusions_app
from app.cli.imports import import_observations
from app.cli.months import month_app
from app.cli.report import report
from app.cli.rules import rules
from app.cli.runners import runners_app
from app.cli.serve import demo, probe_command, sample, serve_command, simulate
from app.cli.tokens import token_app

app = typer.Typer(
    name="kadou",
    help="Kadou (稼働): availability and SLA monitor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("import")(import_observations)
app.command("report")(report)
app.command("sample")(sample)
app.command("serve")(serve_command)
app.command("probe")(probe_command)
app.command("demo")(demo)
app.command("simulate")(simulate)
app.command("rules")(rules)
app.add_typer(catalog_app, name="catalog")
app.add_typer(db_app, name="db")
app.add_typer(exclusions_app, name="exclusions")
app.add_typer(token_app, name="token")
app.add_typer(runners_app, name="runners")
app.add_typer(month_app, name="month")
app.add_typer(evidence_app, name="evidence")


def main() -> None:
    app()
