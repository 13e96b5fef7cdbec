"""What every route needs, from ``app.state``: the runtime, the clock, the state cache and
whether the database answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import Request

from app.current import CurrentStateCache
from app.runtime import Runtime
from app.store.monitor import DatabaseMonitor


@dataclass
class ApiContext:
    runtime: Runtime
    clock: Callable[[], datetime]
    current: CurrentStateCache
    database: DatabaseMonitor = field(init=False)

    def __post_init__(self) -> None:
        self.database = DatabaseMonitor(lambda: schema_problem(self.runtime))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.runtime.timezone)

    def now(self) -> datetime:
        return self.clock()


def schema_problem(runtime: Runtime) -> str | None:
    """None when the database's schema is current, else what to do; raises if unreachable."""
    current, found, head = runtime.schema_is_current()
    if current:
        return None
    return (
        f"the database schema is at {found or 'nothing'}, Kadou needs {head}; "
        "run `kadou db upgrade`"
    )


def api_context(request: Request) -> ApiContext:
    context = request.app.state.kadou
    assert isinstance(context, ApiContext)
    return context


async def api_context_async(request: Request) -> ApiContext:
    """``api_context`` for routes that answer on the event loop: FastAPI runs a plain
    function dependency on the thread pool, a hop that costs more than a cached answer."""
    return api_context(request)
