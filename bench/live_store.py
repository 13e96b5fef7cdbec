"""CPU per observation of storing a probe runner's results live, on SQLite and PostgreSQL.

The runner's shape: ``--checks`` checks probed every ``--interval`` seconds from one
location, their start times spread over the interval, and the writer flushing once a
second, so each flush holds one result for each of many checks (200 with the defaults).
Each flush is stored as the embedded runner's sink stores it: one transaction with
``store_observations`` and the runner's heartbeat. Most checks stay up; a few are down for
the whole run, and every result flips its check's state with probability ``--flip-rate``
(outages starting and ending, blips), so both the fast path and the recomputation run.

With ``--shape api`` each flush is instead what ``POST /api/v1/results`` does with an
agent's batch of that shape, minus HTTP: decode the JSON body, validate every item
(``parse_batch``), store in one transaction with the heartbeat, count the probes for
``/metrics``. Encoding the body (the agent's work) is not measured.

The first interval (which creates every timeline) is not measured. Printed: this
process's CPU time per stored observation spent storing (the figure to keep under
0.5 ms), wall time per observation, and on PostgreSQL the server backend's CPU per
observation (read from /proc, same machine). Run it against another checkout with
``PYTHONPATH`` to compare:

    python bench/live_store.py
    python bench/live_store.py --checks 2000 --flushes 100 --backends postgres --shape api

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta

from import_and_report import database, drop, server_cpu_seconds

from app.runtime import upgrade
from app.store.db import make_engine, session_factory, transaction
from app.store.ingest import (
    HeartbeatIn,
    ObservationIn,
    TimelineParams,
    record_heartbeat,
    store_observations,
)

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def run(
    backend: str, checks: int, interval_s: int, flushes: int, flip_rate: float, shape: str
) -> dict[str, float]:
    """Print the figures; returns them: CPU ms per observation of this process ("cpu"),
    of the PostgreSQL backends ("server", 0 on SQLite) and wall ms per observation."""
    from app.api.results import parse_batch
    from app.metrics import record_probe

    def validate(items: list[dict[str, object]]) -> list[ObservationIn]:
        # Newer versions bound observed_at by the server's clock: the bench's "now" is
        # the end of its first simulated day.
        if "now" in inspect.signature(parse_batch).parameters:
            return parse_batch(items, params, T0 + timedelta(days=1))
        return parse_batch(items, params)  # type: ignore[call-arg]

    try:  # newer versions audit late results in closed months (checked on the live path)
        from app.store.late import LateAudit, LateObservations
    except ImportError:
        late = None
    else:
        late = LateAudit("Asia/Tokyo")
        late_before_ms = late.current_month_start_ms(T0 + timedelta(days=1))
    rng = random.Random(7)
    names = [f"bench/svc{i // 10}/check{i}" for i in range(checks)]
    stale_after_ms = 3 * interval_s * 1000
    params = {name: TimelineParams(2, stale_after_ms) for name in names}
    # About 1 % of the checks are down all along (their results extend a confirmed outage).
    state = {name: rng.random() > 0.01 for name in names}
    # Each check's start within the interval, as the runner spreads them.
    offset_ms = {name: rng.randrange(interval_s * 1000) for name in names}
    with tempfile.TemporaryDirectory() as workdir:
        url, pg_name = database(backend, workdir)
        try:
            upgrade(url)
            engine = make_engine(url)
            sessions = session_factory(engine)

            def flush(second: int) -> tuple[int, int, float]:
                window_start = second * 1000
                batch = []
                for name in names:
                    # The check's probes due in [second, second + 1).
                    due = offset_ms[name] + (window_start - offset_ms[name]) // (
                        interval_s * 1000
                    ) * (interval_s * 1000)
                    if due < window_start:
                        due += interval_s * 1000
                    if due >= window_start + 1000:
                        continue
                    if rng.random() < flip_rate:
                        state[name] = not state[name]
                    ok = state[name]
                    batch.append(
                        ObservationIn(
                            name,
                            "tokyo",
                            T0 + timedelta(milliseconds=due),
                            ok,
                            round(rng.uniform(5, 80), 3),
                            None if ok else "status 503",
                        )
                    )
                heartbeat = HeartbeatIn(
                    "bench-runner", "tokyo", T0 + timedelta(seconds=second + 1), interval_s * 1000
                )
                if shape == "sink":
                    began = time.process_time()
                    with transaction(sessions) as session:
                        if late is None:
                            result = store_observations(session, batch, params)
                        else:
                            # As app.store.sink.StoreSink: results of a closed month audited.
                            result = store_observations(
                                session, batch, params, late_before_ms=late_before_ms
                            )
                            tally = LateObservations(late)
                            tally.add(session, result.late)
                            tally.record(session, actor="runner:bench-runner")
                        record_heartbeat(session, heartbeat)
                    return (
                        result.stored,
                        getattr(result, "extended", 0),
                        time.process_time() - began,
                    )
                # The agent's body, as probes.sink.HttpPushSink sends it.
                body = json.dumps(
                    {
                        "observations": [
                            {
                                "check": o.check,
                                "location": o.location,
                                "observed_at": o.observed_at.isoformat(timespec="milliseconds"),
                                "ok": o.ok,
                                "latency_ms": o.latency_ms,
                                "detail": o.detail,
                            }
                            for o in batch
                        ]
                    }
                )
                began = time.process_time()
                document = json.loads(body)
                items = validate(document["observations"])
                stored: list[ObservationIn] = []
                with transaction(sessions) as session:
                    result = store_observations(session, items, params, on_stored=stored.append)
                    record_heartbeat(session, heartbeat)
                for item in sorted(stored, key=lambda observation: observation.observed_at):
                    record_probe(
                        item.check, item.location, item.ok, (item.latency_ms or 0.0) / 1000
                    )
                return result.stored, getattr(result, "extended", 0), time.process_time() - began

            for second in range(interval_s):  # every timeline created: not measured
                flush(second)
            stored = extended = 0
            cpu = 0.0
            server_before = server_cpu_seconds(pg_name)
            wall_before = time.perf_counter()
            for second in range(interval_s, interval_s + flushes):
                count, fast, spent = flush(second)
                stored += count
                extended += fast
                cpu += spent
            wall = time.perf_counter() - wall_before
            server = server_cpu_seconds(pg_name) - server_before
            server_part = (
                f", server {server * 1000 / stored:.3f} ms/obs" if pg_name is not None else ""
            )
            print(
                f"{backend:<8} {shape:<4} {checks} checks every {interval_s}s, {flushes} flushes of "
                f"~{stored // flushes} results: {stored:,} stored "
                f"({extended / stored:.0%} extending a segment); "
                f"CPU {cpu * 1000 / stored:.3f} ms/obs, wall {wall * 1000 / stored:.3f} ms/obs"
                f"{server_part}",
                flush=True,
            )
            engine.dispose()
            return {
                "cpu": cpu * 1000 / stored,
                "server": server * 1000 / stored if pg_name is not None else 0.0,
                "wall": wall * 1000 / stored,
            }
        finally:
            drop(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--interval", type=int, default=10, help="probe interval in seconds")
    parser.add_argument("--flushes", type=int, default=60, help="measured one-second flushes")
    parser.add_argument("--flip-rate", type=float, default=0.002)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--shape", default="sink,api", help="sink (embedded runner), api (POST /results), or both"
    )
    args = parser.parse_args()
    for shape in args.shape.split(","):
        for backend in args.backends.split(","):
            run(backend, args.checks, args.interval, args.flushes, args.flip_rate, shape)


if __name__ == "__main__":
    main()
