"""The ``kadou`` command line.

Errors in what the user typed or fed in print one line naming the field and the fix, and
exit with status 2; nothing is written when a command fails.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer

from app.catalog import CatalogError, catalog_summary, load_catalog
from app.errors import KadouError
from app.evaluation import evaluate_period, report_document
from app.runtime import Runtime, open_runtime
from app.settings import get_settings
from app.sla import periods
from app.store.db import transaction
from app.store.tokens import Actor, Role

app = typer.Typer(
    name="kadou",
    help="Kadou (稼働): availability and SLA monitor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="Validate and show the catalog.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
exclusions_app = typer.Typer(help="Planned and disaster exclusion windows.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(db_app, name="db")
app.add_typer(exclusions_app, name="exclusions")
app.add_typer(token_app, name="token")

T = TypeVar("T")
IMPORT_BATCH = 50_000


def fail(message: str) -> NoReturn:
    typer.echo(f"kadou: {message}", err=True)
    raise typer.Exit(2)


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; turn input errors into one line and exit status 2."""
    try:
        return action()
    except (KadouError, CatalogError, ValueError) as error:
        fail(str(error).splitlines()[0] if str(error) else type(error).__name__)


def runtime() -> Runtime:
    return guarded(open_runtime)


def require_schema(rt: Runtime) -> None:
    current, found, head = rt.schema_is_current()
    if not current:
        fail(
            f"the database schema is at {found or 'nothing'}, Kadou needs {head}; "
            "run `kadou db upgrade` first"
        )


def cli_actor() -> Actor:
    # Whoever can run the CLI can open the database directly, so the CLI acts as admin;
    # the audit log still records which operating-system user it was.
    return Actor(name=f"cli:{getpass.getuser()}", role=Role.ADMIN)


def parse_time(text: str, field: str, zone: ZoneInfo) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(
            f"{field}: {text!r} is not an ISO 8601 time; write e.g. 2026-10-04T01:00 or 2026-10-04T01:00+09:00"
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


# --- catalog -------------------------------------------------------------------------------


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


# --- db ------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Bring the database schema to the latest version (creates a SQLite file if needed)."""
    from app.runtime import upgrade

    url = get_settings().database_url
    guarded(lambda: upgrade(url, revision))
    typer.echo(f"database at {revision}: {_safe_url(url)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base")],
) -> None:
    """Step the schema back to REVISION (data in dropped tables is lost)."""
    from app.runtime import downgrade

    url = get_settings().database_url
    guarded(lambda: downgrade(url, revision))
    typer.echo(f"database at {revision}: {_safe_url(url)}")


@db_app.command("status")
def db_status() -> None:
    """Show the schema version and whether it is current."""
    rt = runtime()
    current, found, head = rt.schema_is_current()
    typer.echo(f"database: {_safe_url(rt.settings.database_url)}")
    typer.echo(
        f"schema: {found or 'empty'} (latest {head}){'' if current else ' - run kadou db upgrade'}"
    )


@db_app.command("rebuild-timeline")
def db_rebuild_timeline() -> None:
    """Relabel every stored observation with the catalog's current confirm/stale_after."""
    from app.store.ingest import rebuild_timelines

    rt = runtime()
    require_schema(rt)
    with transaction(rt.sessions) as session:
        count = rebuild_timelines(session, rt.timeline_params)
    typer.echo(f"rebuilt {count} timelines")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- import --------------------------------------------------------------------------------


@app.command("import")
def import_observations(
    file: Annotated[str, typer.Argument(help="JSON Lines file of observations, or - for stdin")],
) -> None:
    """Import observations (JSON Lines). A bad line rejects the whole file; duplicates are skipped."""
    from app.observations import batched, iter_json_lines
    from app.store.ingest import IngestResult, store_observations

    rt = runtime()
    require_schema(rt)
    checks = rt.catalog.checks()
    if file != "-" and not Path(file).is_file():
        fail(f"{file}: no such file")
    total = IngestResult()

    def run() -> None:
        # One transaction for the whole file, fed in batches so memory stays flat: a bad
        # line anywhere rolls everything back, so nothing of a rejected file is stored.
        with (
            sys.stdin if file == "-" else open(file, encoding="utf-8") as lines,
            transaction(rt.sessions) as session,
        ):
            for batch in batched(iter_json_lines(lines, checks), IMPORT_BATCH):
                result = store_observations(session, batch, rt.timeline_params)
                total.received += result.received
                total.stored += result.stored
                total.duplicates += result.duplicates
                total.timelines_updated += result.timelines_updated

    guarded(run)
    typer.echo(
        f"imported {total.stored} observations ({total.duplicates} duplicates skipped, "
        f"{total.timelines_updated} timeline updates)"
    )


# --- exclusions ----------------------------------------------------------------------------


@exclusions_app.command("add")
def exclusions_add(
    scope: Annotated[str, typer.Option(help="system or system/service, e.g. info-network/main")],
    kind: Annotated[str, typer.Option(help="planned (計画停止) or disaster (災害による停止)")],
    start: Annotated[str, typer.Option(help="ISO 8601; without offset: the reporting time zone")],
    end: Annotated[str, typer.Option(help="ISO 8601; without offset: the reporting time zone")],
    reason: Annotated[str, typer.Option(help="Why the service stops; printed in reports")],
    retroactive: Annotated[
        bool, typer.Option(help="Register a planned window that already started")
    ] = False,
) -> None:
    """Register an exclusion window."""
    from app.store.exclusions import ExclusionRequest, add_exclusion

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    request = ExclusionRequest(
        scope=scope,
        kind=kind,
        starts_at=parse_time(start, "start", zone),
        ends_at=parse_time(end, "end", zone),
        reason=reason,
        retroactive=retroactive,
    )

    def act() -> str:
        with transaction(rt.sessions) as session:
            row = add_exclusion(session, rt.catalog, request, cli_actor())
            return f"exclusion {row.id} added: {row.kind} {row.scope} {row.starts_at.astimezone(zone).isoformat()} - {row.ends_at.astimezone(zone).isoformat()}"

    typer.echo(guarded(act))


@exclusions_app.command("list")
def exclusions_list(
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """List active exclusion windows."""
    from app.evaluation import exclusion_json
    from app.store.exclusions import list_exclusions

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    with rt.sessions() as session:
        rows = [exclusion_json(row, zone) for row in list_exclusions(session)]
    if output == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no exclusion windows")
    for row in rows:
        flag = " (retroactive)" if row["retroactive"] else ""
        typer.echo(
            f"{row['id']:>4}  {row['kind']:<8}  {row['scope']:<28}  {row['start']} - {row['end']}  "
            f"by {row['created_by']}{flag}: {row['reason']}"
        )


@exclusions_app.command("remove")
def exclusions_remove(
    exclusion_id: Annotated[int, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option(help="Why the window is removed (audit log)")],
) -> None:
    """Remove an exclusion window (kept in the audit log)."""
    from app.store.exclusions import remove_exclusion

    rt = runtime()
    require_schema(rt)

    def act() -> str:
        with transaction(rt.sessions) as session:
            row = remove_exclusion(session, exclusion_id, actor=cli_actor(), reason=reason)
            return f"exclusion {row.id} removed"

    typer.echo(guarded(act))


# --- report --------------------------------------------------------------------------------


def resolve_period(month: str | None, fiscal_year: int | None, tz: str) -> periods.Period:
    if month and fiscal_year is not None:
        fail("give --month or --fiscal-year, not both")
    if fiscal_year is not None:
        return guarded(lambda: periods.fiscal_year(fiscal_year, tz))
    if month:
        return guarded(lambda: periods.parse_month(month, tz))
    now = datetime.now(ZoneInfo(tz))
    return periods.month(now.year, now.month, tz)


@app.command("report")
def report(
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default: this month to date")] = None,
    fiscal_year: Annotated[
        int | None, typer.Option(help="Fiscal year (April-March), e.g. 2026")
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table, json, csv, xlsx, html or pdf")
    ] = "table",
    lang: Annotated[str, typer.Option(help="ja or en (csv, xlsx, html, pdf)")] = "ja",
    system: Annotated[str | None, typer.Option(help="Only this system (table, json)")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service (with --system)")] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout")] = None,
) -> None:
    """Availability of every service and system for a month or fiscal year."""
    rt = runtime()
    require_schema(rt)
    period = resolve_period(month, fiscal_year, rt.timezone)
    if service and not system:
        fail("--service needs --system")
    if system:
        guarded(lambda: rt.catalog.system(system))
        if service:
            guarded(lambda: rt.catalog.service(system, service))
    if output in ("table", "json"):
        with rt.sessions() as session:
            result = evaluate_period(
                session, rt.catalog, period, system_ids=[system] if system else None
            )
        document = report_document(rt.catalog, result, system_id=system, service_id=service)
        text = (
            json.dumps(document, ensure_ascii=False, indent=2) + "\n"
            if output == "json"
            else render_table(document)
        )
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            typer.echo(f"wrote {out}")
        return
    from app.reports.render import FORMATS
    from app.reports.service import build_report

    if output not in FORMATS:
        fail(f"--format {output!r}: choose table, {', '.join(FORMATS)}")
    if system or service:
        fail("--system and --service apply to table and json; reports cover every system")
    if lang not in ("ja", "en"):
        fail(f"--lang {lang!r}: choose ja or en")
    with rt.sessions() as session:
        rendered = guarded(
            lambda: build_report(
                session,
                rt.catalog,
                kind="fiscal_year" if period.kind == "fiscal_year" else "monthly",
                label=str(fiscal_year) if period.kind == "fiscal_year" else period.label,
                fmt=output,
                lang=lang,
                timezone=rt.timezone,
            )
        )
    target = out if out is not None else Path(rendered.file_name)
    target.write_bytes(rendered.body)
    typer.echo(f"wrote {target}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = float(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{int(hours)}h{int(minutes):02d}m{secs:04.1f}s"
    if minutes:
        return f"{sign}{int(minutes)}m{secs:04.1f}s"
    return f"{sign}{secs:.1f}s"


def render_table(document: dict[str, Any]) -> str:
    period = document["period"]
    lines = [
        f"Kadou availability — {period['label']} ({period['start']} to {period['end']}, {period['timezone']})",
        f"unknown time: {document['unknown_policy']}; data up to {document['data_cutoff']}",
        "",
        f"{'system/service':<28} {'target':>7} {'availability':>12} {'met':>4} {'scheduled':>12} "
        f"{'downtime':>11} {'unknown':>11} {'coverage':>9} {'budget left':>12} {'inc':>4}",
    ]

    def row(name: str, item: dict[str, Any]) -> str:
        met = {True: "yes", False: "NO", None: "-"}[item["met"]]
        coverage = "-" if item["coverage"] is None else f"{item['coverage'] * 100:.2f}%"
        flag = "  insufficient data" if item["insufficient_data"] else ""
        return (
            f"{name:<28} {item['target_display']:>7} {item['availability_display']:>12} {met:>4} "
            f"{_duration(item['scheduled_seconds']):>12} {_duration(item['downtime_seconds']):>11} "
            f"{_duration(item['unknown_seconds']):>11} {coverage:>9} "
            f"{_duration(item['error_budget_remaining_seconds']):>12} {len(item['incidents']):>4}{flag}"
        )

    for item in document["services"]:
        lines.append(row(f"{item['system']}/{item['service']}", item))
    if document["systems"]:
        lines.append("")
        for item in document["systems"]:
            lines.append(row(item["system"], item))
    incidents = [
        (item["system"] + ("/" + item["service"] if "service" in item else ""), incident)
        for item in document["services"] + document["systems"]
        for incident in item["incidents"]
    ]
    if incidents:
        lines += ["", "incidents:"]
        for name, incident in incidents:
            recovery = {True: "recovery met", False: "RECOVERY BREACHED", None: ""}[
                incident["recovery_met"]
            ]
            end = incident["end"] or "ongoing"
            lines.append(
                f"  {name:<28} {incident['start']} - {end}  lasted {_duration(incident['duration_seconds'])}, "
                f"counted {_duration(incident['downtime_seconds'])} {recovery}".rstrip()
            )
    if document["exclusions"]:
        lines += ["", "exclusion windows:"]
        for window in document["exclusions"]:
            lines.append(
                f"  #{window['id']} {window['kind']:<8} {window['scope']:<28} {window['start']} - {window['end']}: {window['reason']}"
            )
    return "\n".join(lines) + "\n"


# --- sample data ---------------------------------------------------------------------------


@app.command("sample")
def sample(
    month: Annotated[str, typer.Option(help="YYYY-MM of the sample month")] = "2026-10",
    out: Annotated[Path, typer.Option(help="JSON Lines file to write")] = Path(
        "sample-observations.jsonl"
    ),
    register_windows: Annotated[
        bool, typer.Option(help="Also register the sample's planned windows")
    ] = False,
) -> None:
    """Write a deterministic sample month of observations (for trying Kadou out)."""
    from app.demo.sample import default_scenario, generate, month_bounds, write_json_lines
    from app.store.exclusions import ExclusionRequest, add_exclusion, list_exclusions

    rt = runtime()
    period = guarded(lambda: periods.parse_month(month, rt.timezone))
    year, month_number = (int(part) for part in period.label.split("-"))
    start, end = month_bounds(year, month_number, rt.timezone)
    scenario = default_scenario(year, month_number, rt.timezone)
    count = write_json_lines(generate(rt.catalog, start, end, scenario), str(out))
    typer.echo(f"wrote {count} observations to {out}")
    if register_windows:
        require_schema(rt)
        with transaction(rt.sessions) as session:
            existing = {(row.scope, row.starts_at, row.ends_at) for row in list_exclusions(session)}
            for scope, window_start, window_end, reason in scenario.planned:
                if (scope, window_start, window_end) in existing:
                    continue
                request = ExclusionRequest(
                    scope, "planned", window_start, window_end, reason, retroactive=True
                )
                row = add_exclusion(session, rt.catalog, request, cli_actor())
                typer.echo(f"registered planned window {row.id} on {row.scope}")


# --- server --------------------------------------------------------------------------------


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    no_probes: Annotated[
        bool, typer.Option("--no-probes", help="Do not run the embedded probe runner")
    ] = False,
) -> None:
    """Run the API, the web pages and /metrics (with the embedded probe runner)."""
    from app.serve import serve

    configure_logging()
    serve(host, port, with_probes=not no_probes)


@app.command("probe")
def probe_command(
    location: Annotated[str | None, typer.Option(help="Where this runner probes from")] = None,
    push: Annotated[
        str | None, typer.Option(help="Send results to this Kadou server instead of the database")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="KADOU_AGENT_TOKEN", help="Bearer token (role prober) for --push"),
    ] = None,
    spool_dir: Annotated[
        Path, typer.Option(help="Unsent results are kept here until delivered")
    ] = Path("var/spool"),
) -> None:
    """Run the probe runner alone: into the database, or as a remote agent with --push."""
    import asyncio

    from probes.runner import run_probe_agent
    from probes.sink import HttpPushSink, ObservationSink

    configure_logging()
    settings = get_settings()
    where = location or settings.location
    catalog = guarded(lambda: load_catalog(settings.catalog))

    async def run() -> None:
        sink: ObservationSink
        if push is None:
            from app.store.sink import StoreSink

            rt = open_runtime(settings, catalog=catalog)
            require_schema(rt)
            sink = StoreSink(rt)
            await run_probe_agent(catalog, where, sink, spool_dir)
            return
        if not token:
            fail("--push needs --token or KADOU_AGENT_TOKEN (a token with the prober role)")
        async with HttpPushSink(push, token) as push_sink:
            await run_probe_agent(catalog, where, push_sink, spool_dir)

    asyncio.run(run())


@app.command("demo")
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo database lives")] = Path(
        "var/demo"
    ),
    host: Annotated[str, typer.Option(help="Address the dashboard listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the dashboard")] = 8000,
    days: Annotated[int, typer.Option(help="Days of history to backfill")] = 60,
) -> None:
    """The live demo: history, simulator with faults, probes, API and dashboard on SQLite."""
    from app.demo.live import run_demo

    configure_logging("WARNING")
    if not 1 <= days <= 400:
        fail("--days must be between 1 and 400")
    run_demo(directory, host=host, port=port, days=days)


# --- simulator -----------------------------------------------------------------------------


@app.command("simulate")
def simulate(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Main port (each service also gets port+1..+7)")] = 8081,
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file of scripted faults (YAML or JSON)")
    ] = None,
) -> None:
    """Run the simulator of the five systems, with fault injection."""
    import asyncio

    from probes.simulator import serve_simulator

    configure_logging()
    if scenario is not None and not scenario.is_file():
        fail(f"--scenario: {scenario}: no such file")
    with contextlib.suppress(KeyboardInterrupt):
        guarded(
            lambda: asyncio.run(serve_simulator(host, port, str(scenario) if scenario else None))
        )


def configure_logging(level: str = "INFO") -> None:
    import logging

    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx (the agent's push sink) logs every request at INFO: one line per batch.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # APScheduler logs every job run at INFO: thousands of lines a minute with many checks.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


# --- Prometheus rules ----------------------------------------------------------------------


@app.command("rules")
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


# --- probe runners -------------------------------------------------------------------------

runners_app = typer.Typer(help="Probe runners seen by this database.", no_args_is_help=True)
app.add_typer(runners_app, name="runners")


@runners_app.command("list")
def runners_list() -> None:
    """Every runner with its location and last heartbeat."""
    from sqlalchemy import select

    from app.store.models import RunnerHeartbeat

    rt = runtime()
    require_schema(rt)
    zone = ZoneInfo(rt.timezone)
    with rt.sessions() as session:
        rows = session.execute(select(RunnerHeartbeat).order_by(RunnerHeartbeat.runner_id))
        found = False
        for row in rows.scalars():
            found = True
            typer.echo(
                f"{row.runner_id:<40} {row.location:<16} last seen "
                f"{row.last_seen_at.astimezone(zone).isoformat(timespec='seconds')} "
                f"(beats every {row.interval_ms / 1000:g} s)"
            )
    if not found:
        typer.echo("no probe runner has reported yet")


@runners_app.command("forget")
def runners_forget(
    runner_id: Annotated[str, typer.Argument(help="The runner id, as `kadou runners list` shows")],
) -> None:
    """Forget a decommissioned runner, so its stale heartbeat stops alerting."""
    from app.store import audit
    from app.store.models import RunnerHeartbeat

    rt = runtime()
    require_schema(rt)
    with transaction(rt.sessions) as session:
        row = session.get(RunnerHeartbeat, runner_id)
        if row is None:
            fail(f"no runner {runner_id!r}; see `kadou runners list`")
        before = {"runner": row.runner_id, "location": row.location}
        session.delete(row)
        audit.record(
            session,
            actor=cli_actor().name,
            action="delete",
            entity="runner",
            entity_id=runner_id,
            before=before,
            after=None,
            reason="decommissioned",
        )
    typer.echo(f"forgot runner {runner_id}")


# --- tokens --------------------------------------------------------------------------------


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
    with rt.sessions() as session:
        for row in list_tokens(session):
            state = "revoked" if row.revoked_at else "active"
            used = row.last_used_at.isoformat() if row.last_used_at else "never"
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


def main() -> None:
    app()
