"""The simulated health endpoints and the control API that injects faults into them."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from probes.simulator.faults import (
    DEFAULT_SERVICES,
    DEFAULT_SLOW_LATENCY_MS,
    FAULT_KINDS,
    Clock,
    FaultTable,
    Scenario,
    utc_now,
)

# "timeout" hangs far longer than any probe waits, but still ends if nobody disconnects.
HANG_SECONDS = 3_600.0

FaultsChanged = Callable[[], Awaitable[None]]


def create_simulator_app(
    services: list[str] | None = None,
    scenario: Scenario | None = None,
    clock: Clock = utc_now,
    *,
    jitter_ms: float = 3.0,
    on_faults_changed: FaultsChanged | None = None,
) -> Starlette:
    """An ASGI app serving ``GET /<system>/<service>/health`` for each simulated service and
    ``/_control/faults`` to inject faults. The fault table is ``app.state.faults``.

    ``on_faults_changed`` is awaited after every control call, so that the server can close
    or reopen a service's own listener before the call returns (see ``server.py``).
    """
    faults = FaultTable(services if services is not None else DEFAULT_SERVICES, scenario, clock)

    async def notify() -> None:
        if on_faults_changed is not None:
            await on_faults_changed()

    async def health(request: Request) -> Response:
        system = request.path_params["system"]
        service = request.path_params["service"]
        key = f"{system}/{service}"
        if key not in faults.services:
            return _problem(404, f"unknown service {key!r}")
        if jitter_ms > 0:
            await asyncio.sleep(random.uniform(0, jitter_ms) / 1000.0)
        active = faults.active(key)
        kind = active.fault if active is not None else "ok"
        if kind == "timeout":
            await _hang_until_disconnect(request)
            return _health(503, "timeout", system, service, clock)
        if kind == "slow":
            latency_ms = active.latency_ms if active and active.latency_ms is not None else None
            await asyncio.sleep((latency_ms or DEFAULT_SLOW_LATENCY_MS) / 1000.0)
            return _health(200, "ok", system, service, clock)
        if kind == "error" or (
            kind == "flap" and active is not None and faults.flap_fails(key, active)
        ):
            return _health(503, "error", system, service, clock)
        if kind == "down":
            # Only reached when the app is called without the server's gates (which refuse
            # or reset the connection); answer in a way that is never mistaken for "ok".
            return _health(503, "down", system, service, clock)
        return _health(200, "ok", system, service, clock)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({**faults.snapshot(), "services": list(faults.services)})

    async def put_fault(request: Request) -> Response:
        key = f"{request.path_params['system']}/{request.path_params['service']}"
        if key not in faults.services:
            return _problem(404, f"unknown service {key!r}")
        try:
            body = await request.json()
        except ValueError:
            return _problem(422, 'body must be JSON like {"fault": "error"}')
        if not isinstance(body, dict):
            return _problem(422, "body must be a JSON object")
        fault = body.get("fault")
        if fault not in FAULT_KINDS:
            return _problem(422, f"field 'fault' must be one of {list(FAULT_KINDS)}")
        latency_ms = body.get("latency_ms")
        for_seconds = body.get("for_seconds")
        for name, value in (("latency_ms", latency_ms), ("for_seconds", for_seconds)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                return _problem(422, f"field {name!r} must be a non-negative number")
        active = faults.set(
            key,
            fault,
            latency_ms=round(latency_ms) if latency_ms is not None else None,
            for_ms=round(for_seconds * 1000) if for_seconds is not None else None,
        )
        await notify()
        return JSONResponse({"service": key, **active.as_json()})

    async def delete_fault(request: Request) -> Response:
        key = f"{request.path_params['system']}/{request.path_params['service']}"
        if key not in faults.services:
            return _problem(404, f"unknown service {key!r}")
        faults.clear(key)
        await notify()
        return Response(status_code=204)

    async def delete_faults(request: Request) -> Response:
        faults.clear_all()
        await notify()
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/_control/faults", list_faults, methods=["GET"]),
            Route("/_control/faults", delete_faults, methods=["DELETE"]),
            Route("/_control/faults/{system}/{service}", put_fault, methods=["PUT"]),
            Route("/_control/faults/{system}/{service}", delete_fault, methods=["DELETE"]),
            Route("/{system}/{service}/health", health, methods=["GET"]),
        ]
    )
    app.state.faults = faults
    return app


def _health(status_code: int, status: str, system: str, service: str, clock: Clock) -> Response:
    body: dict[str, Any] = {
        "status": status,
        "system": system,
        "service": service,
        "time": clock().isoformat(),
    }
    return JSONResponse(body, status_code=status_code)


def _problem(status_code: int, detail: str) -> Response:
    return JSONResponse(
        {"title": "simulator control error", "status": status_code, "detail": detail},
        status_code=status_code,
        media_type="application/problem+json",
    )


async def _hang_until_disconnect(request: Request) -> None:
    """Hold the request open until the client goes away (or ``HANG_SECONDS`` pass).

    Waiting on ``receive`` rather than a bare sleep frees the handler as soon as the probe
    gives up, so hung requests do not pile up in the simulator or delay its shutdown.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(HANG_SECONDS):
            while (await request.receive())["type"] != "http.disconnect":
                pass


def service_of_path(path: str, services: Sequence[str]) -> str | None:
    """``/jpki/main/health`` -> ``jpki/main`` when it is a simulated service."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) == 3 and parts[2] == "health":
        key = f"{parts[0]}/{parts[1]}"
        if key in services:
            return key
    return None
