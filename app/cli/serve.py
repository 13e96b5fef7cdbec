"""Long-running commands, and trying Kadou out.

``serve``, ``probe``, ``simulate``, ``demo`` and ``sample``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.catalog import load_catalog
from app.catalog.model import Catalog
from app.cli._common import (
    catalog_secrets,
    check_output_path,
    cli_actor,
    configure_logging,
    fail,
    guarded,
    log_level,
    require_schema,
    runtime,
)
from app.runtime import open_runtime
from app.settings import get_settings
from app.sla import periods
from app.store.db import transaction

if TYPE_CHECKING:
    from probes.base import Check, ProbeResult

LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level",
        envvar="KADOU_LOG_LEVEL",
        help="Level of Kadou's own log lines: DEBUG, INFO, WARNING or ERROR",
    ),
]
LibraryLogLevel = Annotated[
    str,
    typer.Option(
        "--library-log-level",
        envvar="KADOU_LIBRARY_LOG_LEVEL",
        help="Level of the libraries' log lines (WeasyPrint, fontTools, httpx, APScheduler, ...)",
    ),
]


def _configure_logging(level: str, libraries: str, catalog: Catalog) -> None:
    configure_logging(
        log_level(level, "--log-level"),
        libraries=log_level(libraries, "--library-log-level"),
        secrets=catalog_secrets(catalog),
    )


def _catalog() -> Catalog:
    return guarded(lambda: load_catalog(get_settings().catalog))


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
    check_output_path(out)
    if register_windows:
        require_schema(rt)
    year, month_number = (int(part) for part in period.label.split("-"))
    start, end = month_bounds(year, month_number, rt.timezone)
    scenario = default_scenario(year, month_number, rt.timezone)

    def register() -> list[str]:
        registered = []
        with transaction(rt.sessions) as session:
            existing = {(row.scope, row.starts_at, row.ends_at) for row in list_exclusions(session)}
            for scope, window_start, window_end, reason in scenario.planned:
                if (scope, window_start, window_end) in existing:
                    continue
                request = ExclusionRequest(
                    scope, "planned", window_start, window_end, reason, retroactive=True
                )
                row = add_exclusion(session, rt.catalog, request, cli_actor())
                registered.append(f"registered planned window {row.id} on {row.scope}")
        return registered

    # The file is written under a temporary name and renamed once the windows are
    # registered: a failure on the way leaves neither a file nor windows.
    partial = out.with_name(f".{out.name}.partial")
    try:
        try:
            count = write_json_lines(generate(rt.catalog, start, end, scenario), str(partial))
        except OSError as error:
            fail(f"--out {out}: cannot write: {error.strerror or error}")
        messages = guarded(register) if register_windows else []
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    typer.echo(f"wrote {count} observations to {out}")
    for message in messages:
        typer.echo(message)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    no_probes: Annotated[
        bool, typer.Option("--no-probes", help="Do not run the embedded probe runner")
    ] = False,
    level: LogLevel = "INFO",
    library_level: LibraryLogLevel = "WARNING",
) -> None:
    """Run the API, the web pages and /metrics (with the embedded probe runner)."""
    from app.serve import serve

    _configure_logging(level, library_level, _catalog())
    serve(host, port, with_probes=not no_probes)


def probe_command(
    location: Annotated[str | None, typer.Option(help="Where this runner probes from")] = None,
    push: Annotated[
        str | None, typer.Option(help="Send results to this Kadou server instead of the database")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="File holding the prober token for --push (readable by you only)"),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="The prober token itself; visible to every user of the machine (ps): "
            "prefer --token-file or KADOU_AGENT_TOKEN"
        ),
    ] = None,
    spool_dir: Annotated[
        Path, typer.Option(help="Unsent results are kept here until delivered")
    ] = Path("var/spool"),
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve this runner's own /metrics (probes, retries, writer backlog, dead "
            "letters) on this port",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address the --metrics-port listens on")
    ] = "127.0.0.1",
    share_checks: Annotated[
        bool,
        typer.Option(
            "--share-checks",
            help="With --push: probe only the checks the server assigns this runner, "
            "sharing the location's checks with its other runners",
        ),
    ] = False,
    runner_id: Annotated[
        str | None,
        typer.Option(
            envvar="KADOU_RUNNER_ID",
            help="This runner's id (default HOSTNAME/LOCATION); runners that share a "
            "location's checks must each have their own",
        ),
    ] = None,
    heartbeat_interval: Annotated[
        str,
        typer.Option(
            help="How often this runner tells the server it is alive (and, with "
            "--share-checks, asks for its checks); a lost runner's checks are taken over "
            "within about 2.5 of these",
        ),
    ] = "10s",
    level: LogLevel = "INFO",
    library_level: LibraryLogLevel = "WARNING",
) -> None:
    """Run the probe runner alone: into the database, or as a remote agent with --push."""
    import asyncio

    from probes.runner import run_probe_agent, settle_heap_for_probing
    from probes.sink import HttpPushSink, ObservationSink

    settings = get_settings()
    where = location or settings.location
    catalog = _catalog()
    _configure_logging(level, library_level, catalog)
    secret = agent_token(token_file, token) if push is not None else None
    heartbeat_ms = _heartbeat_interval_ms(heartbeat_interval)
    if runner_id is not None:
        runner_id = runner_id.strip()
        if not 1 <= len(runner_id) <= 200:
            fail("--runner-id: give 1 to 200 characters (or leave it out for HOSTNAME/LOCATION)")
    rt = None
    if share_checks and push is None:
        fail("--share-checks goes with --push: the server assigns the checks")
    if push is None:
        if token_file is not None or token is not None:
            fail("--token and --token-file go with --push; into the database no token is needed")
        rt = guarded(lambda: open_runtime(settings, catalog=catalog))
        require_schema(rt)
    on_result, on_retry = (
        (None, None)
        if metrics_port is None
        else _serve_agent_metrics(metrics_port, metrics_host, where)
    )

    async def run() -> None:
        sink: ObservationSink
        if rt is not None:
            from app.store.sink import StoreSink

            sink = StoreSink(rt.sessions, rt.timeline_params, late=rt.late_audit)
            await run_probe_agent(
                catalog,
                where,
                sink,
                spool_dir,
                on_result=on_result,
                on_retry=on_retry,
                heartbeat_interval_ms=heartbeat_ms,
                runner_id=runner_id,
            )
            return
        assert push is not None and secret is not None
        from probes.assignment import CheckAssignment

        assignment = CheckAssignment(push, secret, where) if share_checks else None
        try:
            async with HttpPushSink(push, secret) as push_sink:
                await run_probe_agent(
                    catalog,
                    where,
                    push_sink,
                    spool_dir,
                    on_result=on_result,
                    on_retry=on_retry,
                    assignment=assignment,
                    heartbeat_interval_ms=heartbeat_ms,
                    runner_id=runner_id,
                )
        finally:
            if assignment is not None:
                await assignment.aclose()

    # Set up (catalog, database, metrics server): what exists now lives as long as we do.
    settle_heap_for_probing()
    asyncio.run(run())


# Bounds of --heartbeat-interval: faster floods the server with beats, slower leaves a lost
# runner's checks unprobed for minutes.
HEARTBEAT_MIN_MS = 100
HEARTBEAT_MAX_MS = 600_000


def _heartbeat_interval_ms(text: str) -> int:
    from app.catalog.durations import parse_duration

    try:
        interval_ms = parse_duration(text)
    except ValueError as error:
        fail(f"--heartbeat-interval: {error}")
    if not HEARTBEAT_MIN_MS <= interval_ms <= HEARTBEAT_MAX_MS:
        fail(f"--heartbeat-interval: give 100ms to 10m; got {text!r}")
    return interval_ms


def _serve_agent_metrics(
    port: int, host: str, where: str
) -> tuple[Callable[[Check, ProbeResult], None], Callable[[Check], None]]:
    """Serve the runner's own /metrics on ``host:port``; the hooks that feed it."""
    from prometheus_client import start_http_server

    from app.metrics import PROBE_REGISTRY, record_probe, record_retry, record_warnings

    try:
        start_http_server(port, host, registry=PROBE_REGISTRY)
    except OSError as error:
        fail(f"--metrics-port: cannot listen on {host}:{port} ({error})")

    def on_result(check: Check, result: ProbeResult) -> None:
        record_probe(check.key, where, result.ok, result.latency_ms / 1000)
        record_warnings(check.key, where, result.warnings, result.measurements)

    def on_retry(check: Check) -> None:
        record_retry(check.key, where)

    return on_result, on_retry


def agent_token(token_file: Path | None, token: str | None) -> str:
    """The prober token, from the first of --token-file, --token and KADOU_AGENT_TOKEN.

    A token on the command line is readable by every user of the machine (``ps``, the
    shell's history), so it still works, for a quick try, but says so on stderr.
    """
    from_environment = os.environ.get("KADOU_AGENT_TOKEN", "").strip()
    if token_file is not None and token is not None:
        fail("give --token-file or --token, not both")
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            fail(f"--token-file {token_file}: cannot read it: {error.strerror or error}")
        if not text:
            fail(f"--token-file {token_file}: the file is empty; put the prober token in it")
        return text
    if token:
        typer.echo(
            "kadou: warning: --token is visible to other users of this machine (ps, shell "
            "history); use --token-file FILE or KADOU_AGENT_TOKEN instead",
            err=True,
        )
        return token
    if from_environment:
        return from_environment
    fail(
        "--push needs the prober token: --token-file FILE or KADOU_AGENT_TOKEN "
        "(create one with `kadou token create --role prober`)"
    )


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


def simulate(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Main port (each service also gets port+1..+7)")] = 8081,
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario file of scripted faults (YAML or JSON)")
    ] = None,
    level: LogLevel = "INFO",
    library_level: LibraryLogLevel = "WARNING",
) -> None:
    """Run the simulator of the five systems, with fault injection."""
    import asyncio

    from probes.simulator import serve_simulator

    configure_logging(
        log_level(level, "--log-level"), libraries=log_level(library_level, "--library-log-level")
    )
    if scenario is not None and not scenario.is_file():
        fail(f"--scenario: {scenario}: no such file")
    with contextlib.suppress(KeyboardInterrupt):
        guarded(
            lambda: asyncio.run(serve_simulator(host, port, str(scenario) if scenario else None))
        )
